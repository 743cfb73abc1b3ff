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
import math
from typing import Any, ClassVar, Literal

import numpy as np

from gainnet.core.registry import SCENARIOS
from gainnet.core.scenario import Scenario, StateBatch
from gainnet.errors import GainnetError, InvalidDecisionError, InvalidStateError
from gainnet.games.split_pricing import (
    band_middle,
    best_response,
    layer_values,
    server_utility,
    snap_down,
)

#: c(l) = a*l + b of the ViT-B/32-shaped encoder, batch 1, 1 thread (benchmarks/results/
#: split_profile_vit.json, `python benchmarks/split_inference.py`, commit 5587ee1)
DEFAULT_A_MS = 12.5
DEFAULT_B_MS = 10.5


@dataclasses.dataclass(frozen=True)
class StackelbergSplitParams:
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

    num_devices: int = 10
    num_layers: int = 12
    cost_a_ms_per_layer: float = DEFAULT_A_MS
    cost_b_ms: float = DEFAULT_B_MS
    profile_path: str | None = None
    capacity_low_ms: float = 60.0
    capacity_high_ms: float = 200.0
    beta_low: float = 1.0
    beta_high: float = 5.0
    theta: float = 1.0
    revenue: float | None = None
    price_max: float = 2.0
    information: Literal["complete", "incomplete"] = "complete"
    beta_noise: float = 0.1

    def __post_init__(self) -> None:
        for name in ("num_devices", "num_layers"):
            value = getattr(self, name)
            if not (isinstance(value, int | np.integer) and value >= 1):
                raise GainnetError(f"{name} must be a positive integer, got {value!r}")
        if self.profile_path is not None:
            from gainnet.split.latency import SplitProfile

            fit = SplitProfile.load(self.profile_path).cost_fit()
            object.__setattr__(self, "cost_a_ms_per_layer", 1000 * fit["a_s_per_layer"])
            object.__setattr__(self, "cost_b_ms", 1000 * fit["b_s"])
        positive = ("cost_a_ms_per_layer", "capacity_high_ms", "beta_low", "theta", "price_max")
        for name in positive:
            value = float(getattr(self, name))
            if not (math.isfinite(value) and value > 0):
                raise GainnetError(f"{name} must be a positive finite number, got {value}")
        for name in ("cost_b_ms", "capacity_low_ms", "beta_noise"):
            value = float(getattr(self, name))
            if not (math.isfinite(value) and value >= 0):
                raise GainnetError(f"{name} must be finite and >= 0, got {value}")
        if self.capacity_high_ms <= self.capacity_low_ms or self.beta_high <= self.beta_low:
            raise GainnetError("capacity_high_ms and beta_high must exceed their lows")
        if self.information not in ("complete", "incomplete"):
            raise GainnetError(
                f"information must be 'complete' or 'incomplete', got {self.information!r}"
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

    # ----------------------------------------------------------------- batched maths
    def sample(self, n: int, rng: np.random.Generator) -> StackelbergSplitState:
        p = self.params
        shape = (int(n), p.num_devices)
        beta = rng.uniform(p.beta_low, p.beta_high, shape)
        capacity = rng.uniform(p.capacity_low_ms, p.capacity_high_ms, shape)
        noise = 1.0 + p.beta_noise * rng.standard_normal(int(n))
        estimate = np.maximum(beta.mean(axis=1) * noise, 1e-6)
        return StackelbergSplitState(beta, capacity, estimate)

    def validate_state(self, state: StateBatch) -> None:
        if not isinstance(state, StackelbergSplitState):
            raise InvalidStateError(f"expected a StackelbergSplitState, got {type(state).__name__}")
        n_dev = self.params.num_devices
        for name in ("beta", "capacity_ms"):
            arr = np.asarray(getattr(state, name))
            if arr.ndim != 2 or arr.shape[1] != n_dev:
                raise InvalidStateError(f"{name} must be [n, {n_dev}], got {arr.shape}")
            if not np.all(np.isfinite(arr)):
                raise InvalidStateError(f"{name} contains NaN or inf")
        if np.any(state.beta <= 0):
            raise InvalidStateError("beta must be > 0")
        if np.any(state.capacity_ms < 0):
            raise InvalidStateError("capacity_ms must be >= 0")
        est = np.asarray(state.beta_estimate)
        if est.shape != (len(state.beta),) or not np.all(np.isfinite(est)) or np.any(est <= 0):
            raise InvalidStateError("beta_estimate must be [n], finite and > 0")

    def observe(self, state: StackelbergSplitState) -> np.ndarray:
        self.validate_state(state)
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
        return best_response(self._price(state, price), self.values(state))

    def utility(self, state: StackelbergSplitState, decision: np.ndarray) -> np.ndarray:
        self.validate_state(state)
        price = self._price(state, decision)
        p = self.params
        layers = best_response(price, self.values(state))
        return server_utility(price, layers, p.revenue_value, p.theta, p.num_layers)

    def is_feasible(self, state: StackelbergSplitState, decision: np.ndarray) -> np.ndarray:
        self.validate_state(state)
        price = self._price(state, decision)
        return (price >= 0) & (price <= self.params.price_max)

    def decode(self, state: StackelbergSplitState, action: np.ndarray) -> np.ndarray:
        """``[-1, 1]`` -> ``[0, price_max]`` linearly, clipped (NaN -> 0): always feasible.

        Complete information: the price then snaps down to the switching price below it
        (``games.split_pricing.snap_down``): the followers answer the same and the server pays
        less, so a decoded price is always one of the exact enumeration's candidates.
        """
        action = np.asarray(action, dtype=float)
        if action.ndim != 2 or action.shape[0] != len(state.beta) or action.shape[1] < 1:
            raise InvalidDecisionError(f"action must be [n, 1], got {action.shape}")
        action = np.nan_to_num(action, nan=-1.0, posinf=1.0, neginf=-1.0)
        price = np.clip((action[:, 0] + 1.0) / 2.0, 0.0, 1.0) * self.params.price_max
        if self.params.information == "complete":
            self.validate_state(state)
            price = snap_down(self.values(state), price, self.params.price_max)
        return price[:, None]

    def encode(self, state: StackelbergSplitState, decision: np.ndarray) -> np.ndarray:
        """Complete information: the middle of the band that decodes to the price (robust to
        small errors); incomplete: the linear inverse."""
        price = self._price(state, decision)
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

    # ----------------------------------------------------------------- helpers
    def _checked(self, state, array, error, what) -> np.ndarray:
        array = np.asarray(array, dtype=float)
        if array.ndim != 2 or array.shape != (len(state.beta), 1):
            raise error(f"{what} must be [n, 1] with n = {len(state.beta)}, got {array.shape}")
        if not np.all(np.isfinite(array)):
            raise error(f"{what} contains NaN or inf")
        return array

    def _price(self, state, decision) -> np.ndarray:
        return self._checked(state, decision, InvalidDecisionError, "price")[:, 0]
