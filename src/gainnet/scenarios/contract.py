"""``contract``: an AIGC provider designs a menu of (quality, payment) items (seed 003).

``K`` user types ``theta_1 < ... < theta_K`` with prior ``pi`` and a cost ``c`` per unit of
quality; see :mod:`gainnet.games.contract_theory` for the model and the exact solution.

Decision: ``[n, 2K]``, qualities ``q`` then payments ``r``. Action encoding: an action
``a in [-1, 1]^K`` gives qualities ``q = q_max (a + 1) / 2``, sorted so they are monotone, and
the payments are the binding ones (lowest IR and downward adjacent ICs). Every decoded contract
therefore satisfies IR and IC exactly, and contains the optimum: a learned solver can only lose
utility, never violate a constraint.

The model has a quality cap ``q_k <= quality_max`` (default 10: the most a provider can
deliver); it binds on some instances (about 1 in 10 with the defaults), and the exact expert
and the decoding respect it. ``quality_max = None`` removes it (the decoding then spans
``[0, theta_high / cost_low - 1]``, which holds every uncapped optimum).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

from gainnet.core.arrays import real_array
from gainnet.core.registry import SCENARIOS
from gainnet.core.scenario import Scenario, StateBatch
from gainnet.core.validation import Validated, setting
from gainnet.errors import InvalidConfigError, InvalidStateError
from gainnet.games.contract_theory import binding_payments, provider_utility, violations

#: the most user types (and contract items) of one instance
MAX_TYPES = 1024


@dataclasses.dataclass(frozen=True)
class ContractParams(Validated):
    """Parameters of ``contract``.

    Attributes
    ----------
    num_types : int
        K, user types and contract items (1..1024).
    theta_low, theta_high : float
        Types are K sorted draws from ``U(theta_low, theta_high)`` (> 0).
    cost_low, cost_high : float
        Provider cost per unit of quality, ``c ~ U(cost_low, cost_high)`` (> 0).
    prior_concentration : float
        Prior ``pi ~ Dirichlet(concentration * 1_K)``; large values give near-uniform priors.
    quality_max : float or None
        The quality cap ``q_k <= quality_max`` of the model (the provider cannot deliver more),
        which the exact expert respects and within which decoded menus lie. ``None``: no cap;
        decoded qualities then lie in ``[0, quality_bound]``, which holds every uncapped
        optimum (see :meth:`quality_bound`), so the learned and the exact menu solve the
        same uncapped problem.
    """

    num_types: int = setting(5, low=1, high=MAX_TYPES)
    theta_low: float = setting(1.0, gt=0, high=1e6)
    theta_high: float = setting(5.0, gt=0, high=1e6)
    cost_low: float = setting(0.5, gt=0, high=1e6)
    cost_high: float = setting(1.5, gt=0, high=1e6)
    prior_concentration: float = setting(5.0, gt=0, high=1e6)
    quality_max: float | None = setting(10.0, gt=0, high=1e9)

    def check(self) -> None:
        if not (self.theta_high > self.theta_low and self.cost_high > self.cost_low):
            raise InvalidConfigError("theta_high and cost_high must exceed their lows")

    def quality_bound(self) -> float:
        """The largest quality a decoded menu may hold: ``quality_max``, or without a cap
        ``theta_high / cost_low - 1`` (at least 1), above every uncapped optimum: optimal
        qualities are ``max(0, x / c - 1)`` with ironed virtual types ``x <= theta_high``."""
        if self.quality_max is not None:
            return self.quality_max
        return max(self.theta_high / self.cost_low - 1.0, 1.0)


@dataclasses.dataclass(frozen=True)
class ContractState(StateBatch):
    """theta ``[n, K]`` ascending (> 0); prior ``[n, K]`` (> 0, rows sum to 1); cost ``[n]``."""

    theta: np.ndarray
    prior: np.ndarray
    cost: np.ndarray


@SCENARIOS.register("contract")
class Contract(Scenario):
    """Provider utility of a menu; decoded menus are IR and IC by construction."""

    name = "contract"
    version = 1
    Params = ContractParams
    presets: ClassVar[dict[str, dict[str, Any]]] = {"seed003": {}, "ten-types": {"num_types": 10}}
    utility_label = "provider utility"

    @property
    def observation_dim(self) -> int:
        return 2 * self.params.num_types + 1

    @property
    def action_dim(self) -> int:
        return self.params.num_types

    @property
    def decision_dim(self) -> int:
        return 2 * self.params.num_types

    def observation_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(self.observation_dim, np.float32), np.ones(self.observation_dim, np.float32)

    def _sample(self, n: int, rng: np.random.Generator) -> ContractState:
        p = self.params
        theta = np.sort(rng.uniform(p.theta_low, p.theta_high, (n, p.num_types)), axis=1)
        prior = rng.dirichlet(np.full(p.num_types, p.prior_concentration), n)
        prior = np.maximum(np.nan_to_num(prior, nan=0.0), 1e-6)  # tiny concentrations underflow
        prior /= prior.sum(axis=1, keepdims=True)
        cost = rng.uniform(p.cost_low, p.cost_high, n)
        return ContractState(theta, prior, cost)

    def validate_state(self, state: StateBatch) -> None:
        if not isinstance(state, ContractState):
            raise InvalidStateError(f"expected a ContractState, got {type(state).__name__}")
        k = self.params.num_types
        theta = real_array(state.theta, "theta", (None, k), positive=True)
        prior = real_array(state.prior, "prior", theta.shape, positive=True)
        real_array(state.cost, "cost", (len(theta),), positive=True)
        if np.any(np.diff(theta, axis=1) < 0):
            raise InvalidStateError("theta must be sorted ascending in each row")
        if not np.allclose(prior.sum(axis=1), 1.0, atol=1e-9):
            raise InvalidStateError("each prior row must sum to 1")

    def _observe(self, state: ContractState) -> np.ndarray:
        p = self.params
        obs = np.concatenate(
            [state.theta / p.theta_high, state.prior, (state.cost / p.cost_high)[:, None]], axis=1
        )
        return obs.astype(np.float32)

    def split_decision(self, state, decision) -> tuple[np.ndarray, np.ndarray]:
        """``(quality, payment)``, each ``[n, K]``, from a finite decision ``[n, 2K]``."""
        decision = self.check_decision(state, decision)
        k = self.params.num_types
        return decision[:, :k], decision[:, k:]

    def _utility(self, state: ContractState, decision: np.ndarray) -> np.ndarray:
        k = self.params.num_types
        return provider_utility(state.prior, state.cost, decision[:, :k], decision[:, k:])

    def violations(self, state: ContractState, decision: np.ndarray):
        """Worst IR and IC violation per instance, ``([n], [n])``."""
        self.validate_state(state)
        quality, payment = self.split_decision(state, decision)
        return violations(state.theta, quality, payment)

    def _is_feasible(self, state: ContractState, decision: np.ndarray) -> np.ndarray:
        k = self.params.num_types
        quality, payment = decision[:, :k], decision[:, k:]
        ir, ic = violations(state.theta, quality, payment)
        cap = self.params.quality_max  # None: no cap in the model
        capped = np.ones(len(decision), bool) if cap is None else (quality <= cap).all(axis=1)
        return (ir == 0) & (ic == 0) & np.all(quality >= 0, axis=1) & capped

    def _decode(self, state: ContractState, action: np.ndarray) -> np.ndarray:
        action = np.nan_to_num(action, nan=-1.0, posinf=1.0, neginf=-1.0)
        bound = self.params.quality_bound()
        quality = np.sort(bound * np.clip((action + 1) / 2, 0, 1), axis=1)
        return np.concatenate([quality, binding_payments(state.theta, quality)], axis=1)

    def _encode(self, state: ContractState, decision: np.ndarray) -> np.ndarray:
        quality = decision[:, : self.params.num_types]
        return 2.0 * quality / self.params.quality_bound() - 1.0

    def decode_torch(self, observation, action):
        """:meth:`decode` in torch from the observation (qualities sorted, binding payments)."""
        import torch

        p = self.params
        theta = observation[:, : p.num_types] * p.theta_high
        bound = p.quality_bound()
        quality = torch.sort(bound * torch.clamp((action + 1) / 2, 0, 1), dim=1).values
        value = torch.log1p(quality)
        steps = theta * torch.diff(value, dim=1, prepend=torch.zeros_like(value[:, :1]))
        return torch.cat([quality, torch.cumsum(steps, dim=1)], dim=1)

    def utility_torch(self, observation, decision):
        """:meth:`utility` in torch from the observation (prior and cost are observed)."""
        k = self.params.num_types
        prior = observation[:, k : 2 * k]
        cost = observation[:, 2 * k : 2 * k + 1] * self.params.cost_high
        quality, payment = decision[:, :k], decision[:, k:]
        return (prior * (payment - cost * quality)).sum(dim=1)

    def default_expert(self):
        from gainnet.experts.contract_optimum import ContractOptimum

        return ContractOptimum(self)
