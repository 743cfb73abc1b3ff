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
   ``V'(b) = [(1 - alpha) w beta / g] D r'(b) / r(b)^2``; the bandwidths solve
   ``V'_k(b_k) = nu`` with the common multiplier ``nu`` set by ``sum_k b_k = B``, each on
   ``(b_min_k, B]`` where ``D_k / r_k(b_min_k) = T`` (a Lambert-W closed form). Feasible iff
   ``sum_k b_min_k < B``. Both the users' roots (in ``u = ln(b - b_min)``) and the
   multiplier's (in ``ln nu``) are found by Newton's method with analytic derivatives,
   safeguarded by a bracket (a bisection wherever a step would leave it); the inner roots are
   warm-started from the previous multiplier's, so a solve takes a dozen evaluations.

Every function takes ``[n, K]`` arrays (the batch first) and loops over no instance.
Units: seconds, hertz, bits, FLOP and FLOP/s.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.special import lambertw, wrightomega

from gainnet.errors import InvalidStateError

LN2 = float(np.log(2.0))
#: the most Newton steps of either root (each falls back to bisection when it would leave its
#: bracket; a bracket of 2^60 relative width is then closed in well under this)
NEWTON_STEPS = 100
#: the roots' tolerances: each user's log-slope against the multiplier (the utility is
#: first-order flat at the optimum, so 1e-11 there moves it by ~1e-22) and the bandwidth's
#: relative excess over B
SLOPE_TOL = 1e-11
BANDWIDTH_TOL = 1e-12
#: a Newton correction below this (relative) also ends a root: the values' rounding floor
STEP_TOL = 1e-12


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
    """The ``b`` at which uploading alone takes the whole slot (``D / r(b) = T``), rounded up
    so that ``r(b) >= D / T``; ``inf`` where no bandwidth is enough (``D / T >= rho / ln 2``,
    the rate's limit).

    With ``x = rho / b`` and ``c = (D / T) ln 2 / rho`` the condition is ``ln(1 + x) = c x``,
    whose non-zero root is ``x = -W_{-1}(-c e^{-c}) / c - 1`` (Lambert W's lower branch);
    two Newton steps on ``r(b) = D / T`` polish it where ``c`` is close to 1.
    """
    need = np.asarray(payload_bits, dtype=float) / deadline_s
    rho = np.asarray(snr_per_hz, dtype=float)
    c = need * LN2 / rho
    reachable = c < 1
    c = np.where(reachable, c, 0.5)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        x = -lambertw(-c * np.exp(-c), k=-1).real / c - 1
        b = np.where(np.isfinite(x) & (x > 0), rho / x, need)
        for _ in range(2):
            b = b - (uplink_rate_bps(b, rho) - need) / uplink_rate_slope(b, rho)
    b = np.where(np.isfinite(b) & (b > 0), b, need)
    for _ in range(64):  # round up to the first float whose rate suffices
        short = reachable & (uplink_rate_bps(b, rho) < need)
        if not short.any():
            break
        b = np.where(short, np.nextafter(b, np.inf) * (1 + 1e-15), b)
    return np.where(reachable, b, np.inf)


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


def newton_root(func, low, high, start, tol: float, steps: int = NEWTON_STEPS) -> np.ndarray:
    """Elementwise root of a decreasing ``func`` inside the bracket ``[low, high]``.

    ``func(x, active)`` returns ``(value, derivative)``; ``active`` marks the elements still
    iterating (a caller with state of its own updates only those). Newton's method from
    ``start``, each step shrinking the bracket (the root lies above ``x`` where ``value > 0``);
    a step that would leave it, or has no usable derivative, bisects instead. An element stops
    once ``|value| <= tol``, its bracket is a few ulps wide or its Newton correction is below
    ``STEP_TOL``, and then never moves again: its result does not depend on the others'. A
    root outside the bracket gives its nearer end.
    """
    low, high = np.array(low, dtype=float), np.array(high, dtype=float)
    x = np.clip(np.array(start, dtype=float), low, high)
    active = np.ones(x.shape, dtype=bool)
    for _ in range(steps):
        value, slope = func(x, active)
        above = value > 0
        low, high = np.where(above, x, low), np.where(above, high, x)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            step = x - value / slope
        inside = np.isfinite(step) & (step > low) & (step < high)
        scale = np.maximum(np.abs(x), 1.0)
        settled = inside & (np.abs(step - x) <= STEP_TOL * scale)
        converged = np.abs(value) <= tol
        moved = np.where(inside, step, 0.5 * (low + high))
        x = np.where(active & ~converged, moved, x)
        active &= ~(converged | settled | ((high - low) <= 4 * np.finfo(float).eps * scale))
        if not active.any():
            break
    return x


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
    log_scale = np.log((1 - alpha) * wb * D)
    log_ratio = np.log((1 - alpha) * beta / alpha)

    def log_slope(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``ln V'(b)`` and its derivative in ``b`` (``V'`` is +inf at ``b_min``)."""
        rate = uplink_rate_bps(b, rho)
        r1 = uplink_rate_slope(b, rho)
        r2 = -(rho**2) / (b * (b + rho) ** 2 * LN2)
        left = T - D / rate
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            z = wrightomega(log_ratio + gamma * left).real
            interior = z < gamma * left  # the split's generation time is below L
            g = np.where(interior, z / gamma, left)
            dg_dleft = np.where(interior, z / (1 + z), 1.0)
            value = log_scale - np.log(g) + np.log(r1) - 2 * np.log(rate)
            slope = -dg_dleft * D * r1 / rate**2 / g + r2 / r1 - 2 * r1 / rate
        return value, slope

    # b = b_min + e^u: the log-slope is close to linear in u near b_min, where it blows up
    spare = B - b_min
    u_low = np.full_like(D, np.log(1e-12 * B))
    u_high = np.log(spare)
    share = (B - total_min[:, None]) / D.shape[1]  # the equal share of what is spare
    u = np.log(share)  # the users' first start, then each root warm-starts the next

    def bandwidth_at(log_nu: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Each user's ``b`` with ``V'(b) = nu`` (clipped to ``(b_min, B]``); the warm starts
        move only in the instances ``rows``, so that each instance's iterates are its own."""
        nonlocal u
        target = log_nu[:, None]

        def residual(x, _active):
            value, slope = log_slope(b_min + np.exp(x))
            return value - target, slope * np.exp(x)

        found = newton_root(residual, u_low, u_high, u, SLOPE_TOL)
        u = np.where(rows[:, None], found, u)
        return b_min + np.exp(found)

    def excess(log_nu: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``sum_k b_k(nu) / B - 1`` and its derivative in ``ln nu``."""
        b = bandwidth_at(log_nu, active)
        _, slope = log_slope(b)
        free = (u > u_low) & (u < u_high)  # users clipped at an end do not move with nu
        with np.errstate(divide="ignore", invalid="ignore"):
            db = np.where(free, 1.0 / slope, 0.0)
        return b.sum(axis=-1) / B - 1.0, db.sum(axis=-1) / B

    # nu's bracket: at the slopes of the point that shares the spare bandwidth equally, every
    # user takes at most (the largest slope) or at least (the smallest) that equal share
    level, _ = log_slope(b_min + share)
    lo, hi = level.min(axis=-1) - 1e-9, level.max(axis=-1) + 1e-9
    log_nu = newton_root(excess, lo, hi, np.median(level, axis=-1), BANDWIDTH_TOL)
    bandwidth = bandwidth_at(log_nu, np.ones(len(D), dtype=bool))
    bandwidth *= np.minimum(1.0, B / bandwidth.sum(axis=-1, keepdims=True))  # rounding residue
    left = T - D / uplink_rate_bps(bandwidth, rho)
    sensing, generation = time_split(left, alpha, beta, gamma)
    return SlotSolution(sensing, bandwidth, compute, generation)
