"""``power-allocation``: downlink power over M orthogonal channels (the GDMOPT / AIGX problem).

One base station serves one user over ``M`` orthogonal channels with gains ``g_i``. It spends
exactly the total power ``P`` to maximise the sum rate

    R(p) = sum_i log2(1 + g_i p_i / N0)   subject to   sum_i p_i = P,  p_i >= 0,

whose optimum is water-filling (``gainnet.experts.water_filling``). Gains are drawn
independently, ``g_i ~ U(gain_low_i, gain_high_i)``, or, with ``channel_dataset``, are the
resource-block gains of a random channel of a 3GPP dataset (:mod:`gainnet.channels`; the ``M``
channels are ``M`` resource blocks of its OFDM grid, gains ``||h_k||^2`` averaged over each
block, times ``10^(channel_gain_offset_db / 10)``); either way optionally scaled by ITU-R
P.838-3 rain attenuation (``rain_rate_mm_per_h`` over ``path_length_km`` at ``carrier_ghz``).

Action encoding (``decode`` / ``encode``)
-----------------------------------------
An action ``a`` in R^M decodes to ``p = P * relu(a) / sum(relu(a))`` (equal power if every
entry is <= 0), so every decision is feasible by construction and a channel is switched off
*exactly* by a non-positive entry. ``encode`` maps a decision back: active channels get their
power relative to the strongest one, ``p_i / max(p)``, and silent channels get their
normalised water-level deficit ``(mu - N0/g_i) / max(p)`` (clipped to [-1, 0]), where ``mu`` is
the lowest water level among the active channels. For a water-filling decision that deficit is
the continuous continuation of the active-channel formula, so the imitation target is a smooth
function of the gains and switching a channel off needs no jump.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from gainnet.core.arrays import real_array
from gainnet.core.registry import SCENARIOS
from gainnet.core.scenario import Scenario, StateBatch
from gainnet.core.validation import Validated, setting
from gainnet.errors import InvalidConfigError, InvalidDecisionError, InvalidStateError
from gainnet.wireless.rain import rain_power_gain
from gainnet.wireless.rates import sum_rate_bps_per_hz

FEASIBILITY_TOL = 1e-6
#: the least gain observed in dB (``observation_db``): a channel of gain 0 reads -300 dB
MIN_GAIN = 1e-30


#: the most channels a power-allocation instance may have
MAX_CHANNELS = 4096


@dataclasses.dataclass(frozen=True)
class PowerAllocationParams(Validated):
    """Parameters of ``power-allocation``.

    Attributes
    ----------
    num_channels : int
        M, the number of orthogonal channels (1..4096).
    gain_low, gain_high : float or tuple of M floats
        Bounds of the uniform gain distribution, per channel or shared (linear, >= 0).
    total_power_w : float
        P, the total transmit power, watts (> 0).
    noise_power_w : float
        N0, the noise power, watts (> 0).
    rain_rate_mm_per_h : float
        Rain on the link (ITU-R P.838-3); every sampled gain is scaled by the rain's power
        factor over ``path_length_km`` at ``carrier_ghz``. 0 (the default) is dry weather.
    carrier_ghz, path_length_km : float
        Carrier frequency (GHz) and rain path length (km) for that factor.
    channel_dataset : str or None
        A channel dataset folder (``gainnet channels generate``); when set, gains come from its
        channels (``gain_low`` / ``gain_high`` are not used) and must have at least
        ``num_channels`` subcarriers.
    channel_gain_offset_db : float
        Added (in dB) to the dataset's gains: the path gain of a drop is -60 to -150 dB, so
        this is where the link budget (transmit power unit over noise power) goes.
    observation_db : bool
        Observe ``10 log10`` of the gains instead of the gains: a dataset's gains span tens of
        dB (path loss), which a solver standardising linear gains barely resolves at the low
        end. The utility and the decisions are unchanged.
    """

    num_channels: int = setting(10, low=1, high=MAX_CHANNELS)
    gain_low: float | tuple[float, ...] = setting(
        (1.0,) * 5 + (0.0,) * 5, low=0, high=1e30, max_items=MAX_CHANNELS
    )
    gain_high: float | tuple[float, ...] = setting(
        (2.0,) * 5 + (1.0,) * 5, low=0, high=1e30, max_items=MAX_CHANNELS
    )
    total_power_w: float = setting(3.0, gt=0, high=1e12)
    noise_power_w: float = setting(1.0, gt=0, high=1e12)
    rain_rate_mm_per_h: float = setting(0.0, low=0, high=1000)
    carrier_ghz: float = setting(28.0, low=1, high=1000)
    path_length_km: float = setting(0.2, gt=0, high=1000)
    channel_dataset: str | None = None
    channel_gain_offset_db: float = setting(0.0, low=-300, high=300)
    observation_db: bool = False

    def check(self) -> None:
        if self.channel_dataset is not None:  # the gains come from the dataset
            object.__setattr__(self, "gain_low", 0.0)
            object.__setattr__(self, "gain_high", 1.0)
        for name in ("gain_low", "gain_high"):
            value = getattr(self, name)
            if isinstance(value, tuple) and len(value) != self.num_channels:
                raise InvalidConfigError(
                    f"{name} has {len(value)} values but num_channels is {self.num_channels}"
                )
        low, high = self.gain_bounds()
        if np.any(high <= low):
            raise InvalidConfigError("every gain_high must exceed its gain_low")
        try:
            self.rain_factor()
        except ValueError as exc:
            raise InvalidConfigError(f"invalid rain parameters: {exc}") from None
        if self.channel_dataset is not None:
            self.dataset_gains()  # loads and checks the dataset once, refused here if bad

    def dataset_gains(self) -> np.ndarray:
        """``[N, M]``: the block gains of every channel of ``channel_dataset`` (offset in)."""
        from gainnet.channels.gains import scenario_gains

        offset_db = self.channel_gain_offset_db
        return scenario_gains("blocks", self.channel_dataset, self.num_channels, offset_db)

    def rain_factor(self) -> float:
        """Linear power factor (<= 1) of the rain on every channel (1 when dry)."""
        if self.rain_rate_mm_per_h == 0:
            return 1.0
        return rain_power_gain(self.carrier_ghz, self.rain_rate_mm_per_h, self.path_length_km)

    def gain_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)``, each ``[M]``."""
        shape = (self.num_channels,)
        low = np.broadcast_to(np.asarray(self.gain_low, dtype=float), shape)
        return low, np.broadcast_to(np.asarray(self.gain_high, dtype=float), shape)


@dataclasses.dataclass(frozen=True)
class PowerAllocationState(StateBatch):
    """A batch of channel realisations.

    Attributes
    ----------
    gains : ndarray, [n, M]
        Linear power gains, >= 0.
    """

    gains: np.ndarray


# The AIGX SNR: with this rate formula the seed's 18.8 % gain of optimal power over equal power
# on T1 channels happens only at P/N0 ~= 0.224 (see docs/power-allocation.md).
_AIGX_POWER_W = 0.224

PRESETS: dict[str, dict[str, Any]] = {
    "gdmopt": {
        "num_channels": 10,
        "gain_low": (1.0,) * 5 + (0.0,) * 5,
        "gain_high": (2.0,) * 5 + (1.0,) * 5,
        "total_power_w": 3.0,
        "noise_power_w": 1.0,
    },
    "aigx-t1": {
        "num_channels": 20,
        "gain_low": (5.0,) * 10 + (3.0,) * 10,
        "gain_high": (8.0,) * 10 + (6.0,) * 10,
        "total_power_w": _AIGX_POWER_W,
        "noise_power_w": 1.0,
    },
    "aigx-t2": {
        "num_channels": 20,
        "gain_low": 1.0,
        "gain_high": 7.0,
        "total_power_w": _AIGX_POWER_W,
        "noise_power_w": 1.0,
    },
}


@SCENARIOS.register("power-allocation")
class PowerAllocation(Scenario):
    """Sum-rate power allocation over parallel channels; see the module docstring."""

    version = 1
    Params = PowerAllocationParams
    presets = PRESETS
    utility_label = "sum rate (bit/s/Hz)"

    @property
    def observation_dim(self) -> int:
        return self.params.num_channels

    @property
    def action_dim(self) -> int:
        return self.params.num_channels

    def observation_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Gains are >= 0 (in dB, unbounded); the upper bound is left open so every preset of
        the same size has the same space (an RL solver trained on one phase keeps serving the
        next)."""
        low, high = super().observation_bounds()
        if self.params.observation_db:
            return low, high
        return np.zeros_like(low), high

    # ----------------------------------------------------------------- sampling and checks
    def _sample(self, n: int, rng: np.random.Generator) -> PowerAllocationState:
        if self.params.channel_dataset is not None:
            table = self.params.dataset_gains()
            gains = table[rng.integers(0, len(table), n)]
            return PowerAllocationState(gains=gains * self.params.rain_factor())
        low, high = self.params.gain_bounds()
        gains = rng.uniform(low, high, size=(n, low.size))
        return PowerAllocationState(gains=gains * self.params.rain_factor())

    def state(self, gains: Any) -> PowerAllocationState:
        """A validated state from a gains array ``[n, M]`` (or ``[M]`` for one instance)."""
        arr = real_array(gains, "gains")
        if arr.ndim == 1:
            arr = arr[None, :]
        state = PowerAllocationState(gains=arr)
        self.validate_state(state)
        return state

    def validate_state(self, state: StateBatch) -> None:
        if not isinstance(state, PowerAllocationState):
            raise InvalidStateError(f"expected a PowerAllocationState, got {type(state).__name__}")
        real_array(state.gains, "gains", (None, self.params.num_channels), low=0.0)

    # ----------------------------------------------------------------- maths
    def _observe(self, state: StateBatch) -> np.ndarray:
        if self.params.observation_db:
            return (10 * np.log10(np.maximum(state.gains, MIN_GAIN))).astype(np.float32)
        return np.asarray(state.gains, dtype=np.float32)

    def _utility(self, state: StateBatch, decision: np.ndarray) -> np.ndarray:
        return sum_rate_bps_per_hz(state.gains, decision, self.params.noise_power_w)

    def _is_feasible(self, state: StateBatch, decision: np.ndarray) -> np.ndarray:
        total = self.params.total_power_w
        nonneg = np.all(decision >= -FEASIBILITY_TOL * total, axis=1)
        tight = np.abs(decision.sum(axis=1) - total) <= FEASIBILITY_TOL * total
        return nonneg & tight

    def _decode(self, state: StateBatch, action: np.ndarray) -> np.ndarray:
        m = self.params.num_channels
        big = np.finfo(float).max
        weight = np.maximum(np.nan_to_num(action, nan=0.0, posinf=big, neginf=0.0), 0.0)
        peak = weight.max(axis=1, keepdims=True)  # scale to [0, 1] first: no overflow in sum
        weight = np.divide(weight, peak, out=np.zeros_like(weight), where=peak > 0)
        total = weight.sum(axis=1, keepdims=True)
        equal = np.full_like(weight, 1.0 / m)
        share = np.divide(weight, total, out=equal, where=total > 0)
        return self.params.total_power_w * share

    def _encode(self, state: StateBatch, decision: np.ndarray) -> np.ndarray:
        total = self.params.total_power_w
        q = np.maximum(decision, 0.0) / total
        q_max = q.max(axis=1, keepdims=True)
        if np.any(q_max <= 0):
            raise InvalidDecisionError("cannot encode an all-zero power allocation")
        active = q > 0
        with np.errstate(divide="ignore"):
            floor = (self.params.noise_power_w / total) / state.gains  # N0 / (P g), inf if g = 0
        level = np.where(active, q + floor, np.inf).min(axis=1, keepdims=True)
        with np.errstate(invalid="ignore"):  # inf - inf where a zero-gain channel is active
            raw = (level - floor) / q_max
        raw = np.nan_to_num(raw, nan=-1.0, posinf=0.0, neginf=-1.0)
        deficit = np.clip(np.minimum(raw, 0.0), -1.0, 0.0)
        return np.where(active, q / q_max, deficit)

    def default_expert(self):
        from gainnet.experts.water_filling import WaterFilling

        return WaterFilling(self)

    # ----------------------------------------------------------------- differentiable maths
    def decode_torch(self, observation, action):
        """``decode`` in torch; relu's gradient passes through on [-1, 0] (straight-through)
        so a switched-off channel can still be switched on by a gradient step.
        """
        import torch

        hard = torch.relu(action)
        soft = torch.clamp(action, min=-1.0)
        weight = soft + (hard - soft).detach()
        total = weight.sum(dim=-1, keepdim=True)
        share = weight / total.clamp_min(1e-6)
        return self.params.total_power_w * share

    def utility_torch(self, observation, decision):
        import torch

        gains = observation
        if self.params.observation_db:
            gains = torch.pow(10.0, observation.double() / 10).to(observation.dtype)
        snr = gains * decision.clamp_min(0.0) / self.params.noise_power_w
        return torch.log2(1.0 + snr).sum(dim=-1)
