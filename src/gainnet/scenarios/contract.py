"""``contract``: an AIGC provider designs a menu of (quality, payment) items (seed 003).

``K`` user types ``theta_1 < ... < theta_K`` with prior ``pi`` and a cost ``c`` per unit of
quality; see :mod:`gainnet.games.contract_theory` for the model and the exact solution.

Decision: ``[n, 2K]``, qualities ``q`` then payments ``r``. Action encoding: an action
``a in [-1, 1]^K`` gives qualities ``q = q_max (a + 1) / 2``, sorted so they are monotone, and
the payments are the binding ones (lowest IR and downward adjacent ICs). Every decoded contract
therefore satisfies IR and IC exactly, and contains the optimum: a learned solver can only lose
utility, never violate a constraint.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import numpy as np

from gainnet.core.registry import SCENARIOS
from gainnet.core.scenario import Scenario, StateBatch
from gainnet.errors import GainnetError, InvalidDecisionError, InvalidStateError
from gainnet.games.contract_theory import binding_payments, provider_utility, violations


@dataclasses.dataclass(frozen=True)
class ContractParams:
    """Parameters of ``contract``.

    Attributes
    ----------
    num_types : int
        K, user types and contract items.
    theta_low, theta_high : float
        Types are K sorted draws from ``U(theta_low, theta_high)`` (> 0).
    cost_low, cost_high : float
        Provider cost per unit of quality, ``c ~ U(cost_low, cost_high)`` (> 0).
    prior_concentration : float
        Prior ``pi ~ Dirichlet(concentration * 1_K)``; large values give near-uniform priors.
    quality_max : float
        Largest quality a decoded action can ask for.
    """

    num_types: int = 5
    theta_low: float = 1.0
    theta_high: float = 5.0
    cost_low: float = 0.5
    cost_high: float = 1.5
    prior_concentration: float = 5.0
    quality_max: float = 10.0

    def __post_init__(self) -> None:
        if not (isinstance(self.num_types, int | np.integer) and self.num_types >= 1):
            raise GainnetError(f"num_types must be a positive integer, got {self.num_types!r}")
        for name in ("theta_low", "cost_low", "prior_concentration", "quality_max"):
            value = float(getattr(self, name))
            if not (math.isfinite(value) and value > 0):
                raise GainnetError(f"{name} must be a positive finite number, got {value}")
        if not (self.theta_high > self.theta_low and self.cost_high > self.cost_low):
            raise GainnetError("theta_high and cost_high must exceed their lows")


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

    def sample(self, n: int, rng: np.random.Generator) -> ContractState:
        p = self.params
        theta = np.sort(rng.uniform(p.theta_low, p.theta_high, (int(n), p.num_types)), axis=1)
        prior = rng.dirichlet(np.full(p.num_types, p.prior_concentration), int(n))
        prior = np.maximum(prior, 1e-6)
        prior /= prior.sum(axis=1, keepdims=True)
        cost = rng.uniform(p.cost_low, p.cost_high, int(n))
        return ContractState(theta, prior, cost)

    def validate_state(self, state: StateBatch) -> None:
        if not isinstance(state, ContractState):
            raise InvalidStateError(f"expected a ContractState, got {type(state).__name__}")
        k = self.params.num_types
        theta, prior, cost = (np.asarray(x) for x in (state.theta, state.prior, state.cost))
        if theta.ndim != 2 or theta.shape[1] != k or prior.shape != theta.shape:
            raise InvalidStateError(
                f"theta and prior must be [n, {k}], got {theta.shape}, {prior.shape}"
            )
        if cost.shape != (len(theta),):
            raise InvalidStateError(f"cost must be [n], got {cost.shape}")
        for name, arr in (("theta", theta), ("prior", prior), ("cost", cost)):
            if not np.all(np.isfinite(arr)):
                raise InvalidStateError(f"{name} contains NaN or inf")
            if np.any(arr <= 0):
                raise InvalidStateError(f"{name} must be > 0")
        if np.any(np.diff(theta, axis=1) < 0):
            raise InvalidStateError("theta must be sorted ascending in each row")
        if not np.allclose(prior.sum(axis=1), 1.0, atol=1e-9):
            raise InvalidStateError("each prior row must sum to 1")

    def observe(self, state: ContractState) -> np.ndarray:
        self.validate_state(state)
        p = self.params
        obs = np.concatenate(
            [state.theta / p.theta_high, state.prior, (state.cost / p.cost_high)[:, None]], axis=1
        )
        return obs.astype(np.float32)

    def split_decision(self, state, decision) -> tuple[np.ndarray, np.ndarray]:
        """``(quality, payment)``, each ``[n, K]``, from a decision ``[n, 2K]``."""
        k = self.params.num_types
        decision = np.asarray(decision, dtype=float)
        if decision.shape != (len(state.theta), 2 * k):
            raise InvalidDecisionError(f"decision must be [n, {2 * k}], got {decision.shape}")
        if not np.all(np.isfinite(decision)):
            raise InvalidDecisionError("decision contains NaN or inf")
        return decision[:, :k], decision[:, k:]

    def utility(self, state: ContractState, decision: np.ndarray) -> np.ndarray:
        self.validate_state(state)
        quality, payment = self.split_decision(state, decision)
        return provider_utility(state.prior, state.cost, quality, payment)

    def violations(self, state: ContractState, decision: np.ndarray):
        """Worst IR and IC violation per instance, ``([n], [n])``."""
        self.validate_state(state)
        quality, payment = self.split_decision(state, decision)
        return violations(state.theta, quality, payment)

    def is_feasible(self, state: ContractState, decision: np.ndarray) -> np.ndarray:
        ir, ic = self.violations(state, decision)
        quality, _ = self.split_decision(state, decision)
        return (ir == 0) & (ic == 0) & np.all(quality >= 0, axis=1)

    def decode(self, state: ContractState, action: np.ndarray) -> np.ndarray:
        action = np.asarray(action, dtype=float)
        if action.shape != (len(state.theta), self.params.num_types):
            raise InvalidDecisionError(
                f"action must be [n, {self.params.num_types}], got {action.shape}"
            )
        action = np.nan_to_num(action, nan=-1.0, posinf=1.0, neginf=-1.0)
        quality = np.sort(self.params.quality_max * np.clip((action + 1) / 2, 0, 1), axis=1)
        return np.concatenate([quality, binding_payments(state.theta, quality)], axis=1)

    def encode(self, state: ContractState, decision: np.ndarray) -> np.ndarray:
        quality, _ = self.split_decision(state, decision)
        return 2.0 * quality / self.params.quality_max - 1.0

    def decode_torch(self, observation, action):
        """:meth:`decode` in torch from the observation (qualities sorted, binding payments)."""
        import torch

        p = self.params
        theta = observation[:, : p.num_types] * p.theta_high
        quality = torch.sort(p.quality_max * torch.clamp((action + 1) / 2, 0, 1), dim=1).values
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
