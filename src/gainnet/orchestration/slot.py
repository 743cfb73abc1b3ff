"""The ISCC slot problem's maths as pure, batched functions, and its exact solution.

One edge node, one slot of ``T`` seconds, ``K`` users. User ``k`` senses for ``tau_k`` s,
uploads ``D_k`` bits over ``b_k`` Hz at ``r_k(b) = b log2(1 + rho_k / b)`` bit/s, and the node
runs ``s_k = g_k f_k / c_k`` denoising steps for it in ``g_k`` s with ``f_k`` FLOP/s:

    max  sum_k w_k [alpha (1 - exp(-gamma_k tau_k)) + (1 - alpha) beta_k ln s_k]
    s.t. tau_k + D_k / r_k(b_k) + g_k <= T,   sum_k b_k <= B,   sum_k f_k <= F.

The problem is jointly concave (``ln s_k = ln g_k + ln f_k - ln c_k``) and its solution is
exact (gainnet's ``references.md`` section 5):

1. ``f_k = F w_k beta_k / sum_j w_j beta_j`` (f enters only through the logarithms);
2. for a bandwidth ``b_k`` the time left is ``L_k = T - D_k / r_k(b_k)``; the first-order
   condition ``alpha gamma e^{-gamma tau} = (1 - alpha) beta / (L - tau)`` has the closed form
   ``g = W(((1 - alpha) beta / alpha) e^{gamma L}) / gamma`` (Lambert W, evaluated stably as
   Wright's omega of the logarithm), ``tau = L - g``, or ``tau = 0, g = L`` when that ``g``
   exceeds ``L``;
3. each user's value is concave increasing in ``b``, with slope
   ``[(1 - alpha) w beta / g] D r'(b) / r(b)^2``; a bisection on the common slope ``nu`` (its
   logarithm) sets ``sum_k b_k = B``, each ``b_k(nu)`` found by bisection on
   ``[b_min_k, B]``, where ``D_k / r_k(b_min_k) = T``. Feasible iff ``sum_k b_min_k < B``.
   Both roots are found by a bracketed regula falsi (Illinois) with periodic bisection steps.

Every function takes ``[n, K]`` arrays (the batch first) and loops over no instance.
Units: seconds, hertz, bits, FLOP and FLOP/s.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.special import wrightomega

from gainnet.errors import InvalidStateError

LN2 = float(np.log(2.0))
#: bisection steps (each halves a bracket of at most ~2^60 relative width)
BISECTION_STEPS = 64
#: steps of the bracketed root finder (superlinear; every fourth step a bisection)
ROOT_STEPS = 60
#: every this many steps the root finder bisects (a guard against slow one-sided secants)
BISECT_EVERY = 8
#: the root finder stops when every residual is below its tolerance: the bandwidth's relative
#: excess over B (ROOT_TOL) and each user's log-slope against the multiplier (SLOPE_TOL: the
#: utility is first-order flat at the optimum, so 1e-9 there moves it by ~1e-18)
ROOT_TOL = 1e-12
SLOPE_TOL = 1e-9


class InfeasibleSlotError(InvalidStateError):
    """Instances in which even the smallest bandwidths that meet the deadline exceed ``B``."""

    def __init__(self, message: str, rows: np.ndarray) -> None:
        self.rows = rows
        super().__init__(message)


@dataclasses.dataclass(frozen=True)
class SlotSolution:
    """The optimum of a batch: each field ``[n, K]``.

    Attributes
    ----------
    sensing_s, bandwidth_hz, compute_flops, generation_s : ndarray
        ``tau``, ``b``, ``f`` and ``g``.
    """

    sensing_s: np.ndarray
    bandwidth_hz: np.ndarray
    compute_flops: np.ndarray
    generation_s: np.ndarray

    def stacked(self) -> np.ndarray:
        """``[n, K, 4]``: sensing s, bandwidth Hz, compute FLOP/s, generation s."""
        return np.stack(
            [self.sensing_s, self.bandwidth_hz, self.compute_flops, self.generation_s], axis=-1
        )


def uplink_rate_bps(bandwidth_hz: np.ndarray, snr_per_hz: np.ndarray) -> np.ndarray:
    """``r(b) = b log2(1 + rho / b)`` bit/s (0 at ``b = 0``); increasing, concave in ``b``."""
    b = np.asarray(bandwidth_hz, dtype=float)
    safe = np.where(b > 0, b, 1.0)
    return np.where(b > 0, safe * np.log1p(snr_per_hz / safe) / LN2, 0.0)


def uplink_rate_slope(bandwidth_hz: np.ndarray, snr_per_hz: np.ndarray) -> np.ndarray:
    """``r'(b) = log2(1 + rho / b) - rho / ((b + rho) ln 2)`` (bit/s per Hz), > 0."""
    b = np.asarray(bandwidth_hz, dtype=float)
    return (np.log1p(snr_per_hz / b) - snr_per_hz / (b + snr_per_hz)) / LN2


def min_bandwidth_hz(
    payload_bits: np.ndarray, snr_per_hz: np.ndarray, deadline_s: float
) -> np.ndarray:
    """The ``b`` at which uploading alone takes the whole slot (``D / r(b) = T``); ``inf``
    where no bandwidth is enough (``D / T >= rho / ln 2``, the rate's limit)."""
    need = np.asarray(payload_bits, dtype=float) / deadline_s
    rho = np.asarray(snr_per_hz, dtype=float)
    reachable = need < rho / LN2
    low = np.zeros_like(need)
    high = np.where(reachable, need, 1.0)  # r(need) >= need when rho >= need; else grow it
    for _ in range(200):
        short = reachable & (uplink_rate_bps(high, rho) < need)
        if not short.any():
            break
        high = np.where(short, 2 * high, high)
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (low + high)
        enough = uplink_rate_bps(mid, rho) >= need
        high, low = np.where(enough, mid, high), np.where(enough, low, mid)
    return np.where(reachable, high, np.inf)


def time_split(
    time_left_s: np.ndarray, alpha: float, quality_slope: np.ndarray, sensing_rate_per_s: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(tau, g)`` maximising ``alpha (1 - e^{-gamma tau}) + (1 - alpha) beta ln g`` over
    ``tau + g = L`` (``0 < alpha < 1``, ``L > 0``); closed form through Wright's omega."""
    level = np.log((1 - alpha) * quality_slope / alpha) + sensing_rate_per_s * time_left_s
    generation = np.minimum(wrightomega(level).real / sensing_rate_per_s, time_left_s)
    return time_left_s - generation, generation


def slot_utility(
    sensing_s: np.ndarray,
    compute_flops: np.ndarray,
    generation_s: np.ndarray,
    *,
    alpha: float,
    weight: np.ndarray,
    sensing_rate_per_s: np.ndarray,
    quality_slope: np.ndarray,
    flops_per_step: np.ndarray,
) -> np.ndarray:
    """``[n]``: the slot's utility for decisions whose steps ``g f / c`` are > 0."""
    sensing = alpha * (1 - np.exp(-sensing_rate_per_s * sensing_s))
    steps = generation_s * compute_flops / flops_per_step
    quality = (1 - alpha) * quality_slope * np.log(steps)
    return (weight * (sensing + quality)).sum(axis=-1)


def find_root(
    func, low, high, f_low, f_high, iterations: int = ROOT_STEPS, tol: float = ROOT_TOL
) -> np.ndarray:
    """Elementwise root of a decreasing ``func`` bracketed by ``low`` (``f >= 0``) and ``high``
    (``f <= 0``): the Illinois variant of regula falsi, with a bisection step every fourth step
    and wherever the secant is unusable; stops once every ``|f| <= tol`` (or after
    ``iterations``) and returns the bracket's better end."""
    low, high = np.array(low, dtype=float), np.array(high, dtype=float)
    f_low, f_high = np.array(f_low, dtype=float), np.array(f_high, dtype=float)
    side = np.zeros(low.shape, dtype=np.int8)  # which end was kept last time (Illinois)
    bracketed = (f_low > 0) & (f_high < 0)  # elsewhere an end is the answer: nothing to wait for
    for step in range(iterations):
        width = high - low
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            secant = high - f_high * width / (f_high - f_low)
        usable = (
            np.isfinite(secant)
            & (secant > low)
            & (secant < high)
            & (step % BISECT_EVERY != BISECT_EVERY - 1)
        )
        x = np.where(usable, secant, 0.5 * (low + high))
        fx = func(x)
        above = fx > 0  # the root lies above x
        # Illinois: halve the value of an end that survives twice in a row
        f_high = np.where(above & (side == 1), 0.5 * f_high, f_high)
        f_low = np.where(~above & (side == -1), 0.5 * f_low, f_low)
        low, f_low = np.where(above, x, low), np.where(above, fx, f_low)
        high, f_high = np.where(above, high, x), np.where(above, f_high, fx)
        side = np.where(above, 1, -1).astype(np.int8)
        tiny = (high - low) <= 4 * np.finfo(float).eps * np.maximum(np.abs(high), 1.0)
        if np.all(~bracketed | (np.abs(fx) <= tol) | tiny):
            break
    return np.where(np.abs(f_low) < np.abs(f_high), low, high)


def solve_slot(
    *,
    payload_bits: np.ndarray,
    snr_per_hz: np.ndarray,
    sensing_rate_per_s: np.ndarray,
    flops_per_step: np.ndarray,
    weight: np.ndarray,
    quality_slope: np.ndarray,
    deadline_s: float,
    bandwidth_hz: float,
    compute_flops: float,
    alpha: float,
) -> SlotSolution:
    """The exact optimum of every instance (arrays ``[n, K]``; see the module docstring).

    Raises :class:`InfeasibleSlotError` naming the instances where the smallest bandwidths
    that meet the deadline add up to ``B`` or more.
    """
    if not 0 < alpha < 1:
        raise InvalidStateError(f"alpha must be in (0, 1) for the exact solution, got {alpha}")
    D = np.asarray(payload_bits, dtype=float)
    rho = np.asarray(snr_per_hz, dtype=float)
    gamma = np.asarray(sensing_rate_per_s, dtype=float)
    beta = np.asarray(quality_slope, dtype=float)
    w = np.asarray(weight, dtype=float)
    T, B = float(deadline_s), float(bandwidth_hz)

    wb = w * beta
    compute = compute_flops * wb / wb.sum(axis=-1, keepdims=True)

    b_min = min_bandwidth_hz(D, rho, T)
    total_min = b_min.sum(axis=-1)
    bad = ~(total_min < B)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise InfeasibleSlotError(
            f"{rows.size} of {len(bad)} instances are infeasible (first: {rows[:5].tolist()}): "
            "uploading every payload within the deadline needs more than the bandwidth "
            f"{B:g} Hz",
            rows,
        )

    def log_slope(b: np.ndarray) -> np.ndarray:
        rate = uplink_rate_bps(b, rho)
        left = T - D / rate
        _, g = time_split(left, alpha, beta, gamma)
        with np.errstate(divide="ignore"):
            value = (1 - alpha) * wb / g * D * uplink_rate_slope(b, rho) / rate**2
            return np.log(value)

    # b = b_min + e^u: near b_min the log-slope is close to linear in u, so the root finder
    # converges in a few steps; u spans 1e-12 B above b_min up to B
    spare = B - b_min
    u_low = np.full_like(D, np.log(1e-12 * B))
    u_high = np.log(spare)

    def bandwidth_at(log_nu: np.ndarray) -> np.ndarray:
        """Each user's b with slope(b) = nu (the slope is +inf at b_min and decreasing), or
        B where even B leaves the slope above nu."""
        target = log_nu[:, None]
        f_low = log_slope(b_min + np.exp(u_low)) - target
        f_high = log_slope(np.full_like(D, B)) - target
        u = find_root(lambda x: log_slope(b_min + np.exp(x)) - target, u_low, u_high, f_low, f_high)
        inside = np.where(f_low <= 0, b_min + np.exp(u_low), b_min + np.exp(u))
        return np.where(f_high >= 0, B, inside)

    # nu's bracket: at the slopes of the point that shares the spare bandwidth equally, every
    # user takes at most (the largest slope) or at least (the smallest) that equal share
    level = log_slope(b_min + (B - b_min.sum(axis=-1, keepdims=True)) / D.shape[1])
    lo, hi = level.min(axis=-1) - 1e-9, level.max(axis=-1) + 1e-9
    excess = lambda log_nu: bandwidth_at(log_nu).sum(axis=-1) / B - 1.0  # noqa: E731
    log_nu = find_root(excess, lo, hi, excess(lo), excess(hi))
    bandwidth = bandwidth_at(log_nu)
    bandwidth *= np.minimum(1.0, B / bandwidth.sum(axis=-1, keepdims=True))  # rounding residue
    left = T - D / uplink_rate_bps(bandwidth, rho)
    sensing, generation = time_split(left, alpha, beta, gamma)
    return SlotSolution(sensing, bandwidth, compute, generation)
