"""``wmmse`` and ``wmmse-restarts``: weighted MMSE power control for the interference channel.

WMMSE (Shi, Razaviyayn, Luo and He, IEEE TSP 2011; Algorithm 1 of Sun et al. 2018 for the
SISO interference channel) maximises the sum rate through the equivalent weighted-MSE problem,
by block coordinate descent over the transmit amplitudes ``v`` (``p = v^2``), the receive
coefficients ``u`` and the MSE weights ``w``. With ``a_kj = sqrt(g_kj)``, one iteration is

    u_k = a_kk v_k / (sum_j g_kj v_j^2 + N0)
    w_k = 1 / (1 - u_k a_kk v_k)
    v_k = clip(w_k u_k a_kk / sum_j w_j u_j^2 g_jk, 0, sqrt(P_max)).

Since ``u`` and ``w`` are optimal for the current ``v``, the weighted-MSE objective equals
``K ln 2 - ln 2 * R(v)`` there and can only fall, so the sum rate ``R`` never decreases from
one iteration to the next (tested). It converges to a stationary point that depends on the
start: ``wmmse`` starts at full power, as Sun et al. do; ``wmmse-restarts`` runs ``R`` starts
(full power and ``R - 1`` random ones, drawn once from its seed, the same for every instance)
and keeps the best. Everything is vectorised over the batch and the starts.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from gainnet.core.expert import Expert
from gainnet.core.registry import EXPERTS
from gainnet.core.seeding import rng_for
from gainnet.core.validation import Validated, setting
from gainnet.wireless.interference import sum_rate_ic_bps_per_hz

#: WMMSE powers below this fraction of P_max are reported as exactly 0
OFF_FRACTION = 1e-12


def wmmse_iterate(
    gains: np.ndarray,
    amplitude: np.ndarray,
    noise_power_w: float,
    max_power_w: float,
    iterations: int,
    tolerance: float = 0.0,
    trace: list | None = None,
) -> np.ndarray:
    """Run WMMSE from ``amplitude`` ``[..., K]`` (sqrt of watts); returns the final amplitudes.

    ``gains [..., K, K]`` as in :mod:`gainnet.wireless.interference`. Runs ``iterations``;
    with ``tolerance > 0`` each instance stops on its own once an iteration raised its sum rate
    by no more than ``tolerance`` (bit/s/Hz), as Sun et al.'s WMMSE does for one instance: a
    converged row keeps the amplitudes of that last iteration while the others go on, so every
    row equals the same instance run alone. ``trace``, if given, receives the sum rate
    ``[...]`` before the first and after every iteration.
    """
    direct = np.sqrt(np.diagonal(gains, axis1=-2, axis2=-1))
    gains_t = np.swapaxes(gains, -1, -2)
    v = np.clip(amplitude, 0.0, np.sqrt(max_power_w))
    rate = sum_rate_ic_bps_per_hz(gains, v**2, noise_power_w)
    active = np.ones(rate.shape, dtype=bool)
    if trace is not None:
        trace.append(rate)
    for _ in range(int(iterations)):
        received = np.einsum("...kj,...j->...k", gains, v**2) + noise_power_w
        u = direct * v / received
        w = 1.0 / (1.0 - u * direct * v)
        weight = w * u**2
        denominator = np.einsum("...kj,...j->...k", gains_t, weight)
        numerator = w * u * direct
        updated = np.divide(numerator, denominator, out=np.zeros_like(v), where=denominator > 0)
        updated = np.clip(updated, 0.0, np.sqrt(max_power_w))
        v = np.where(active[..., None], updated, v)  # converged rows stop updating
        if trace is not None or tolerance > 0:
            new_rate = sum_rate_ic_bps_per_hz(gains, v**2, noise_power_w)
            if trace is not None:
                trace.append(new_rate)
            if tolerance > 0:
                active &= new_rate - rate > tolerance
                if not active.any():
                    break
            rate = new_rate
    return v


def wmmse_power(
    gains: np.ndarray,
    power_w: np.ndarray,
    noise_power_w: float,
    max_power_w: float,
    iterations: int,
    tolerance: float = 0.0,
) -> np.ndarray:
    """WMMSE from the powers ``power_w [..., K]`` (watts); returns powers ``[..., K]``.

    Powers below ``OFF_FRACTION * P_max`` are switched off (``v -> 0`` only geometrically;
    it changes no rate measurably), and none exceeds ``P_max`` (squaring ``sqrt(P_max)`` may
    overshoot it by an ulp). The sum rate is never lower than at the start.
    """
    start = np.sqrt(np.clip(power_w, 0.0, max_power_w))
    v = wmmse_iterate(gains, start, noise_power_w, max_power_w, iterations, tolerance)
    power = np.minimum(v**2, max_power_w)
    return np.where(power < OFF_FRACTION * max_power_w, 0.0, power)


@dataclasses.dataclass(frozen=True)
class WMMSEConfig(Validated):
    """Settings of ``wmmse``.

    Attributes
    ----------
    iterations : int
        Most WMMSE iterations per start (>= 1).
    tolerance : float
        An instance stops once an iteration raised its sum rate by no more than this
        (bit/s/Hz); 0 runs every iteration.
    restarts : int
        Starts per instance (full power first, then random ones); the best is kept.
    seed : int
        Seed of the random starts (the same ``restarts - 1`` starts for every instance).
    """

    iterations: int = setting(100, low=1, high=100_000)
    tolerance: float = setting(0.0, low=0, high=1e6)
    restarts: int = setting(1, low=1, high=10_000)
    seed: int = setting(0, low=0, high=2**63 - 1)


@EXPERTS.register("wmmse")
class WMMSE(Expert):
    """WMMSE from full power (a local optimum); power ``[n, K]`` watts."""

    kind = "approximate"
    scenarios = ("interference",)
    Config = WMMSEConfig

    def starts(self, count: int) -> np.ndarray:
        """Initial amplitudes ``[count, K]``: full power, then seeded uniform random powers."""
        p = self.scenario.params
        full = np.full((1, p.num_users), np.sqrt(p.max_power_w))
        rng = rng_for(self.config.seed, "wmmse-starts")
        random = np.sqrt(p.max_power_w * rng.uniform(0.0, 1.0, (max(count - 1, 0), p.num_users)))
        return np.concatenate([full, random])[:count]

    def _runs(self, state, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Power ``[count, n, K]`` and sum rate ``[count, n]`` of ``count`` starts."""
        p, cfg = self.scenario.params, self.config
        gains = np.broadcast_to(state.gains, (count, *state.gains.shape))
        start = np.broadcast_to(self.starts(count)[:, None, :] ** 2, gains.shape[:-1])
        power = wmmse_power(
            gains, start, p.noise_power_w, p.max_power_w, cfg.iterations, cfg.tolerance
        )
        return power, sum_rate_ic_bps_per_hz(gains, power, p.noise_power_w)

    def _solve(self, state) -> np.ndarray:
        return self._propose(state, 1)[0]

    def _propose(self, state, k: int) -> np.ndarray:
        """The ``k`` best of ``max(k, restarts)`` starts, ``[k, n, K]``, best first."""
        power, rate = self._runs(state, max(k, self.config.restarts))
        order = np.argsort(-rate, axis=0, kind="stable")[:k]
        return np.take_along_axis(power, order[..., None], axis=0)


@EXPERTS.register("wmmse-restarts")
class WMMSERestarts(WMMSE):
    """Best of ``restarts`` (default 10) WMMSE starts: the stronger reference."""

    @dataclasses.dataclass(frozen=True)
    class Config(WMMSEConfig):
        """Settings of ``wmmse-restarts`` (those of ``wmmse``, 10 starts by default)."""

        restarts: int = setting(10, low=1, high=10_000)
