"""``interference``: power control of K transmitter-receiver pairs sharing one band.

Each pair ``k`` transmits with power ``0 <= p_k <= P_max``; the network's sum rate is

    R(p) = sum_k log2(1 + g_kk p_k / (N0 + sum_{j != k} g_kj p_j)),

non-convex in ``p``: its maximisation is NP-hard in general, and the standard expert, WMMSE
(``gainnet.experts.wmmse``), finds a local optimum that depends on where it starts. This is
where a generative solver can beat its teacher: sample many candidate power vectors and keep
the best, since the utility is cheap to compute (Sun et al., "Learning to optimize", 2018, use
the same problem and expert).

Layouts
-------
``gaussian``: ``h_kj ~ CN(0, 1)``, so every ``g_kj = |h_kj|^2 ~ Exp(1)`` (Sun et al.'s
Gaussian interference channel). ``geometric``: pairs dropped in a square, with log-distance
pathloss, log-normal shadowing and Rayleigh fading (``gainnet.wireless.interference``); its
preset uses a 23 dBm transmitter and the thermal noise of 10 MHz with a 9 dB noise figure.
``channel_dataset``: 3GPP UMi / UMa network drops (``gainnet channels generate --model umi
--set num_cells=K --set num_bs_antennas=1``): ``g_kj`` is the gain of user ``k`` from site ``j``
(38.901 path loss, LoS / NLoS, shadow fading and fading, averaged over the subcarriers), times
``10^(channel_gain_offset_db / 10)``; each instance is one drop of the dataset, drawn at random.
The dataset's gains are absolute path gains, so with the geometric preset's powers (23 dBm,
-95 dBm of noise) the offset is 0.

Encoding
--------
The action ``a`` in R^K decodes to ``p = P_max * clip((a + 1) / 2, 0, 1)`` (NaN -> 0): every
decision is feasible, and both ends, switched off (``a <= -1``) and full power (``a >= 1``),
where WMMSE's solutions mostly lie, are reached exactly. ``encode`` is the inverse,
``a = 2 p / P_max - 1``. The observation is ``ln(1 + P_max g_kj / N0)`` for every link,
flattened row by row (``[n, K*K]``): the gains' enormous range in the geometric layout becomes
a few units.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal

import numpy as np

from gainnet.core.arrays import real_array
from gainnet.core.registry import SCENARIOS
from gainnet.core.scenario import Scenario, StateBatch
from gainnet.core.validation import Validated, check_int_arg, setting
from gainnet.errors import InvalidConfigError, InvalidStateError
from gainnet.wireless.interference import geometric_gains, sum_rate_ic_bps_per_hz

FEASIBILITY_TOL = 1e-9
#: thermal noise of 10 MHz at 290 K with a 9 dB noise figure: -174 + 70 + 9 dBm
_NOISE_10MHZ_W = 10 ** ((-174 + 70 + 9 - 30) / 10)


#: the most transmitter-receiver pairs (the state holds K^2 gains per instance)
MAX_USERS = 1024


@dataclasses.dataclass(frozen=True)
class InterferenceParams(Validated):
    """Parameters of ``interference``.

    Attributes
    ----------
    num_users : int
        K, transmitter-receiver pairs (5 to 50 benchmarked; 1..1024).
    max_power_w : float
        P_max, each transmitter's power limit, watts (> 0).
    noise_power_w : float
        N0, noise power at each receiver, watts (> 0).
    layout : "gaussian" or "geometric"
        How the gains are drawn (see the module doc).
    area_side_m : float
        Geometric layout: side of the square the transmitters are dropped in, metres.
    pair_distance_min_m, pair_distance_max_m : float
        Geometric layout: range of each receiver's distance to its own transmitter, metres.
    pathloss_at_1m_db, pathloss_exponent : float
        Geometric layout: ``PL(d) = pathloss_at_1m_db + 10 * exponent * log10(d / 1 m)``.
    shadowing_db : float
        Geometric layout: standard deviation of the log-normal shadowing, dB (>= 0).
    channel_dataset : str or None
        A network-drop dataset folder with ``num_users`` sites; when set, the gains come from
        it (``layout`` and the geometric settings are not used).
    channel_gain_offset_db : float
        Added (in dB) to the dataset's gains.
    """

    num_users: int = setting(10, low=1, high=MAX_USERS)
    max_power_w: float = setting(1.0, gt=0, high=1e12)
    noise_power_w: float = setting(1.0, gt=0, high=1e12)
    layout: Literal["gaussian", "geometric"] = "gaussian"
    area_side_m: float = setting(500.0, gt=0, high=1e7)
    pair_distance_min_m: float = setting(10.0, low=0, high=1e7)
    pair_distance_max_m: float = setting(100.0, gt=0, high=1e7)
    pathloss_at_1m_db: float = setting(15.3, low=-300, high=300)
    pathloss_exponent: float = setting(3.76, low=0, high=10)
    shadowing_db: float = setting(8.0, low=0, high=100)
    channel_dataset: str | None = None
    channel_gain_offset_db: float = setting(0.0, low=-300, high=300)

    def check(self) -> None:
        if self.pair_distance_max_m <= self.pair_distance_min_m:
            raise InvalidConfigError("pair_distance_max_m must exceed pair_distance_min_m")
        if self.channel_dataset is not None:
            self.dataset_gains()  # loads and checks the dataset once, refused here if bad

    def dataset_gains(self) -> np.ndarray:
        """``[N, K, K]``: the link gains of every drop of ``channel_dataset`` (offset in)."""
        from gainnet.channels.gains import scenario_gains

        offset_db = self.channel_gain_offset_db
        return scenario_gains("links", self.channel_dataset, self.num_users, offset_db)


@dataclasses.dataclass(frozen=True)
class InterferenceState(StateBatch):
    """A batch of interference channels.

    Attributes
    ----------
    gains : ndarray, [n, K, K]
        ``gains[i, k, j] = |h_kj|^2``, linear power gain from transmitter ``j`` to receiver
        ``k`` (>= 0); the diagonal holds the direct links.
    """

    gains: np.ndarray


def _geometric(k: int) -> dict[str, Any]:
    return {
        "num_users": k,
        "layout": "geometric",
        "max_power_w": 0.2,
        "noise_power_w": _NOISE_10MHZ_W,
    }


@SCENARIOS.register("interference")
class Interference(Scenario):
    """Sum-rate power control on a K-user interference channel; see the module docstring."""

    name = "interference"
    version = 1
    Params = InterferenceParams
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "gaussian-10": {"num_users": 10},
        "gaussian-20": {"num_users": 20},
        "gaussian-50": {"num_users": 50},
        "geometric-10": _geometric(10),
        "geometric-20": _geometric(20),
    }
    utility_label = "sum rate (bit/s/Hz)"

    @property
    def observation_dim(self) -> int:
        return self.params.num_users**2

    @property
    def action_dim(self) -> int:
        return self.params.num_users

    def observation_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        low, high = super().observation_bounds()
        return np.zeros_like(low), high

    # ----------------------------------------------------------------- sampling and checks
    def _sample(self, n: int, rng: np.random.Generator) -> InterferenceState:
        p = self.params
        k = p.num_users
        if p.channel_dataset is not None:
            table = p.dataset_gains()
            return InterferenceState(gains=table[rng.integers(0, len(table), n)])
        if p.layout == "gaussian":
            return InterferenceState(gains=rng.exponential(1.0, (n, k, k)))
        gains = geometric_gains(
            rng, n, k, p.area_side_m, p.pair_distance_min_m, p.pair_distance_max_m,
            p.pathloss_at_1m_db, p.pathloss_exponent, p.shadowing_db,
        )  # fmt: skip
        return InterferenceState(gains=gains)

    def state(self, gains: Any) -> InterferenceState:
        """A validated state from gains ``[n, K, K]`` (or ``[K, K]`` for one instance)."""
        arr = real_array(gains, "gains")
        state = InterferenceState(gains=arr[None] if arr.ndim == 2 else arr)
        self.validate_state(state)
        return state

    def validate_state(self, state: StateBatch) -> None:
        if not isinstance(state, InterferenceState):
            raise InvalidStateError(f"expected an InterferenceState, got {type(state).__name__}")
        k = self.params.num_users
        real_array(state.gains, "gains", (None, k, k), low=0.0)

    # ----------------------------------------------------------------- maths
    def _observe(self, state: StateBatch) -> np.ndarray:
        p = self.params
        snr = state.gains * (p.max_power_w / p.noise_power_w)
        return np.log1p(snr).reshape(len(state), -1).astype(np.float32)

    def _utility(self, state: StateBatch, decision: np.ndarray) -> np.ndarray:
        return sum_rate_ic_bps_per_hz(state.gains, decision, self.params.noise_power_w)

    def _is_feasible(self, state: StateBatch, decision: np.ndarray) -> np.ndarray:
        p_max = self.params.max_power_w
        inside = (decision >= -FEASIBILITY_TOL * p_max) & (
            decision <= p_max * (1 + FEASIBILITY_TOL)
        )
        return inside.all(axis=1)

    def _decode(self, state: StateBatch, action: np.ndarray) -> np.ndarray:
        action = np.nan_to_num(action, nan=-1.0, posinf=1.0, neginf=-1.0)
        return self.params.max_power_w * np.clip((action + 1.0) / 2.0, 0.0, 1.0)

    def _encode(self, state: StateBatch, decision: np.ndarray) -> np.ndarray:
        return 2.0 * np.clip(decision / self.params.max_power_w, 0.0, 1.0) - 1.0

    def max_power(self, state: StateBatch) -> np.ndarray:
        """Every transmitter at ``P_max``: ``[n, K]`` watts (the ``max-power`` baseline)."""
        self.validate_state(state)
        return np.full(state.gains.shape[:2], self.params.max_power_w)

    def refine(self, state: StateBatch, decision: np.ndarray, iterations: int) -> np.ndarray:
        """``iterations`` WMMSE iterations from ``decision`` (the sum rate never falls)."""
        from gainnet.experts.wmmse import wmmse_power

        self.validate_state(state)
        decision = self.check_decision(state, decision)
        iterations = check_int_arg(iterations, "refine iterations", 1, 100_000)
        p = self.params
        return wmmse_power(state.gains, decision, p.noise_power_w, p.max_power_w, iterations)

    def default_expert(self):
        from gainnet.experts.wmmse import WMMSE

        return WMMSE(self)

    # ----------------------------------------------------------------- differentiable maths
    def decode_torch(self, observation, action):
        """``decode`` in torch; outside ``[-1, 1]`` the gradient passes straight through, so
        a saturated transmitter can still be moved by a gradient step."""
        import torch

        hard = torch.clamp(action, -1.0, 1.0)
        soft = action + (hard - action).detach()
        return self.params.max_power_w * (soft + 1.0) / 2.0

    def utility_torch(self, observation, decision):
        """Sum rate from the observation (gains recovered as ``expm1(obs) N0 / P_max``),
        computed in float64: the geometric layout's gains span many orders of magnitude."""
        import torch

        p = self.params
        k = p.num_users
        obs = observation.double()
        gains = torch.expm1(obs).reshape(-1, k, k) * (p.noise_power_w / p.max_power_w)
        power = decision.double().clamp_min(0.0)
        received = torch.einsum("bkj,bj->bk", gains, power)
        signal = torch.diagonal(gains, dim1=-2, dim2=-1) * power
        rate = torch.log2(1.0 + signal / (p.noise_power_w + received - signal)).sum(dim=-1)
        return rate.to(observation.dtype)
