"""``stackelberg-split``: an edge server prices the transformer layers devices run (seed 002).

The server (leader) sets one price ``p`` per layer; each of ``N`` devices (followers) then runs
the number of layers that maximises its own utility (see :mod:`gainnet.games.split_pricing`).
The decision is the price; the utility is the server's, with every follower best-responding.
The layer cost ``c(l) = a*l + b`` (ms) is the linear fit of a measured profile: pass
``profile_path`` (a JSON written by ``gainnet split profile``) or keep the defaults, which are
the fit measured for the CLIP ViT-B/32-shaped encoder in ``benchmarks/results``.

Information settings
--------------------
``complete``: the server observes every ``beta_n`` and ``C_n``; the exact ``equilibrium``
expert needs nothing else, so a learned solver can at best tie it. ``incomplete``: the server
observes the budgets ``C_n`` and a noisy estimate of the mean ``beta`` only, and must learn what
price works from the utility it realises; this is where a learned solver earns its place. Both
settings are scored against the complete-information optimum.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal

import numpy as np

from gainnet.core.arrays import real_array
from gainnet.core.registry import SCENARIOS
from gainnet.core.scenario import Scenario, StateBatch
from gainnet.core.validation import Validated, setting
from gainnet.errors import InvalidConfigError, InvalidStateError
from gainnet.games.split_pricing import (
    band_middle,
    best_response,
    layer_values,
    server_utility,
    snap_down,
)

#: c(l) = a*l + b of the ViT-B/32-shaped encoder, batch 1, 1 thread (benchmarks/results/
#: split_profile_vit.json, `python -m benchmarks.split_inference`, commit 5587ee1)
DEFAULT_A_MS = 12.5
DEFAULT_B_MS = 10.5


#: the most followers and layers of one instance; the followers' layer values are
#: ``[n, N, L + 1]``, so ``N * (L + 1)`` is bounded too
MAX_DEVICES = 10_000
MAX_LAYERS = 1024
MAX_DEVICE_LAYERS = 2_000_000


@dataclasses.dataclass(frozen=True)
class StackelbergSplitParams(Validated):
    """Parameters of ``stackelberg-split``.

    Attributes
    ----------
    num_devices : int
        N, followers (2..200 tested).
    num_layers : int
        L, transformer layers per device (12 for ViT-B/32).
    cost_a_ms_per_layer, cost_b_ms : float
        The device cost ``c(l) = a*l + b`` in ms for ``l >= 1`` (``c(0) = 0``).
    profile_path : str or None
        A split profile JSON; when set, ``a`` and ``b`` come from its ``cost_fit`` (converted
        to ms) and override the two fields above.
    capacity_low_ms, capacity_high_ms : float
        Device budgets ``C_n ~ U(low, high)`` in ms.
    beta_low, beta_high : float
        Satisfaction weights ``beta_n ~ U(low, high)`` (> 0).
    theta : float
        The server's cost of one layer it runs itself (utility units per layer).
    revenue : float or None
        R; ``None`` means ``theta * N * L`` (so the all-server price 0 scores 0).
    price_max : float
        Highest price the server may set (the decision lies in ``[0, price_max]``).
    information : "complete" or "incomplete"
        What the server observes (see the module doc).
    beta_noise : float
        Incomplete information: relative standard deviation of the observed mean ``beta``.
    """

    num_devices: int = setting(10, low=1, high=MAX_DEVICES)
    num_layers: int = setting(12, low=1, high=MAX_LAYERS)
    cost_a_ms_per_layer: float = setting(DEFAULT_A_MS, gt=0, high=1e9)
    cost_b_ms: float = setting(DEFAULT_B_MS, low=0, high=1e9)
    profile_path: str | None = None
    capacity_low_ms: float = setting(60.0, low=0, high=1e9)
    capacity_high_ms: float = setting(200.0, gt=0, high=1e9)
    beta_low: float = setting(1.0, gt=0, high=1e9)
    beta_high: float = setting(5.0, gt=0, high=1e9)
    theta: float = setting(1.0, gt=0, high=1e9)
    revenue: float | None = setting(None, low=-1e12, high=1e12)
    price_max: float = setting(2.0, gt=0, high=1e9)
    information: Literal["complete", "incomplete"] = "complete"
    beta_noise: float = setting(0.1, low=0, high=100)

    def check(self) -> None:
        if self.profile_path is not None:
            from gainnet.split.latency import SplitProfile

            fit = SplitProfile.load(self.profile_path).cost_fit()
            object.__setattr__(self, "cost_a_ms_per_layer", 1000 * fit["a_s_per_layer"])
            object.__setattr__(self, "cost_b_ms", 1000 * fit["b_s"])
            if not (self.cost_a_ms_per_layer > 0 and self.cost_b_ms >= 0):
                raise InvalidConfigError(
                    f"{self.profile_path}: its cost fit must have a > 0 and b >= 0, got "
                    f"a = {self.cost_a_ms_per_layer} ms, b = {self.cost_b_ms} ms"
                )
        if self.capacity_high_ms <= self.capacity_low_ms or self.beta_high <= self.beta_low:
            raise InvalidConfigError("capacity_high_ms and beta_high must exceed their lows")
        if self.num_devices * (self.num_layers + 1) > MAX_DEVICE_LAYERS:
            raise InvalidConfigError(
                f"num_devices x (num_layers + 1) = {self.num_devices * (self.num_layers + 1):,} "
                f"exceeds {MAX_DEVICE_LAYERS:,} (the followers' layer values per instance)"
            )

    @property
    def revenue_value(self) -> float:
        if self.revenue is not None:
            return float(self.revenue)
        return self.theta * self.num_devices * self.num_layers


@dataclasses.dataclass(frozen=True)
class StackelbergSplitState(StateBatch):
    """A batch of device populations.

    Attributes
    ----------
    beta : ndarray, [n, N]
        Satisfaction weights (> 0).
    capacity_ms : ndarray, [n, N]
        Compute budgets ``C_n`` in ms (>= 0).
    beta_estimate : ndarray, [n]
        What an incompletely informed server believes the mean ``beta`` is.
    """

    beta: np.ndarray
    capacity_ms: np.ndarray
    beta_estimate: np.ndarray


@SCENARIOS.register("stackelberg-split")
class StackelbergSplit(Scenario):
    """Leader's price per layer against best-responding devices; utility = server utility."""

    name = "stackelberg-split"
    version = 1
    Params = StackelbergSplitParams
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "seed002": {},
        "incomplete": {"information": "incomplete"},
        "large": {"num_devices": 200},
    }
    utility_label = "server utility"

    @property
    def utility_observable(self) -> bool:  # type: ignore[override]
        """Only a completely informed server can compute its utility for a candidate price."""
        return self.params.information == "complete"

    # ----------------------------------------------------------------- description
    @property
    def observation_dim(self) -> int:
        n = self.params.num_devices
        return 2 * n if self.params.information == "complete" else n + 1

    @property
    def action_dim(self) -> int:
        return 1

    def observation_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        low = np.zeros(self.observation_dim, np.float32)
        return low, np.full(self.observation_dim, 4.0, np.float32)

    @property
    def state_bytes_per_instance(self) -> int:
        """The state plus the followers' layer values ``[N, L + 1]`` every method builds."""
        p = self.params
        return super().state_bytes_per_instance + 8 * p.num_devices * (p.num_layers + 1)

    # ----------------------------------------------------------------- batched maths
    def _sample(self, n: int, rng: np.random.Generator) -> StackelbergSplitState:
        p = self.params
        shape = (n, p.num_devices)
        beta = rng.uniform(p.beta_low, p.beta_high, shape)
        capacity = rng.uniform(p.capacity_low_ms, p.capacity_high_ms, shape)
        noise = 1.0 + p.beta_noise * rng.standard_normal(n)
        estimate = np.maximum(beta.mean(axis=1) * noise, 1e-6)
        return StackelbergSplitState(beta, capacity, estimate)

    def validate_state(self, state: StateBatch) -> None:
        if not isinstance(state, StackelbergSplitState):
            raise InvalidStateError(f"expected a StackelbergSplitState, got {type(state).__name__}")
        n_dev = self.params.num_devices
        beta = real_array(state.beta, "beta", (None, n_dev), positive=True)
        real_array(state.capacity_ms, "capacity_ms", beta.shape, low=0.0)
        real_array(state.beta_estimate, "beta_estimate", (len(beta),), positive=True)

    def _observe(self, state: StackelbergSplitState) -> np.ndarray:
        p = self.params
        capacity = state.capacity_ms / p.capacity_high_ms
        if p.information == "complete":
            obs = np.concatenate([state.beta / p.beta_high, capacity], axis=1)
        else:
            obs = np.concatenate([capacity, (state.beta_estimate / p.beta_high)[:, None]], axis=1)
        return obs.astype(np.float32)

    def values(self, state: StackelbergSplitState) -> np.ndarray:
        """Followers' layer values ``[n, N, L+1]`` (see ``games.split_pricing``)."""
        p = self.params
        return layer_values(
            state.beta, state.capacity_ms, p.cost_a_ms_per_layer, p.cost_b_ms, p.num_layers
        )

    def layers(self, state: StackelbergSplitState, price: np.ndarray) -> np.ndarray:
        """Followers' best responses ``[n, N]`` to ``price [n, 1]``."""
        self.validate_state(state)
        return best_response(self.check_decision(state, price)[:, 0], self.values(state))

    def _utility(self, state: StackelbergSplitState, decision: np.ndarray) -> np.ndarray:
        price = decision[:, 0]
        p = self.params
        layers = best_response(price, self.values(state))
        return server_utility(price, layers, p.revenue_value, p.theta, p.num_layers)

    def _is_feasible(self, state: StackelbergSplitState, decision: np.ndarray) -> np.ndarray:
        price = decision[:, 0]
        return (price >= 0) & (price <= self.params.price_max)

    def _decode(self, state: StackelbergSplitState, action: np.ndarray) -> np.ndarray:
        """``[-1, 1]`` -> ``[0, price_max]`` linearly, clipped (NaN -> 0): always feasible.

        Complete information: the price then snaps down to the switching price below it
        (``games.split_pricing.snap_down``): the followers answer the same and the server pays
        less, so a decoded price is always one of the exact enumeration's candidates.
        """
        action = np.nan_to_num(action, nan=-1.0, posinf=1.0, neginf=-1.0)
        price = np.clip((action[:, 0] + 1.0) / 2.0, 0.0, 1.0) * self.params.price_max
        if self.params.information == "complete":
            price = snap_down(self.values(state), price, self.params.price_max)
        return price[:, None]

    def _encode(self, state: StackelbergSplitState, decision: np.ndarray) -> np.ndarray:
        """Complete information: the middle of the band that decodes to the price (robust to
        small errors); incomplete: the linear inverse."""
        price = decision[:, 0]
        if self.params.information == "complete":
            price = band_middle(self.values(state), price, self.params.price_max)
        return (2.0 * price / self.params.price_max - 1.0)[:, None]

    def decode_torch(self, observation, action):
        """:meth:`decode` in torch. The snap (complete information) is a straight-through
        step: its value comes from the observed followers, its gradient is the linear map's."""
        import torch

        p = self.params
        price = torch.clamp((action[:, :1] + 1) / 2, 0, 1) * p.price_max
        if p.information != "complete":
            return price
        obs = observation.detach().double().numpy()
        n_dev = p.num_devices
        values = layer_values(
            obs[:, :n_dev] * p.beta_high, obs[:, n_dev:] * p.capacity_high_ms,
            p.cost_a_ms_per_layer, p.cost_b_ms, p.num_layers,
        )  # fmt: skip
        snapped = snap_down(values, price.detach().double().numpy()[:, 0], p.price_max)
        snapped_t = torch.as_tensor(snapped[:, None], dtype=price.dtype)
        return price + (snapped_t - price).detach()

    def default_expert(self):
        from gainnet.experts.stackelberg_equilibrium import StackelbergEquilibrium

        return StackelbergEquilibrium(self)
