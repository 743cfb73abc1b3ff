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

    def slope(b: np.ndarray) -> np.ndarray:
        rate = uplink_rate_bps(b, rho)
        left = T - D / rate
        _, g = time_split(left, alpha, beta, gamma)
        return (1 - alpha) * wb / g * D * uplink_rate_slope(b, rho) / rate**2

    def bandwidth_at(log_nu: np.ndarray) -> np.ndarray:
        """Each user's b with slope(b) = nu: the slope is +inf at b_min and decreasing, so the
        root lies in (b_min, B] (B where even B leaves the slope above nu)."""
        nu = np.exp(log_nu)[:, None]
        low = np.broadcast_to(b_min, D.shape).copy()
        high = np.full_like(D, B)
        beyond = slope(high) >= nu  # even all of B leaves the slope above nu
        for _ in range(BISECTION_STEPS):
            mid = 0.5 * (low + high)
            above = slope(mid) > nu
            low, high = np.where(above, mid, low), np.where(above, high, mid)
        return np.where(beyond, B, 0.5 * (low + high))

    # log(nu) in [-100, 100] covers slopes from 1e-44 to 1e43 (per Hz, in utility units)
    lo = np.full(len(D), -100.0)
    hi = np.full(len(D), 100.0)
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        too_much = bandwidth_at(mid).sum(axis=-1) > B
        lo, hi = np.where(too_much, mid, lo), np.where(too_much, hi, mid)
    bandwidth = bandwidth_at(hi)
    bandwidth *= np.minimum(1.0, B / bandwidth.sum(axis=-1, keepdims=True))  # rounding residue
    left = T - D / uplink_rate_bps(bandwidth, rho)
    sensing, generation = time_split(left, alpha, beta, gamma)
    return SlotSolution(sensing, bandwidth, compute, generation)
