"""Weightless baselines: ``uniform`` (the seeds' "average" scheme; ISCC's equal split),
``random``, ``max-power``, ``greedy`` (highest value per resource first)."""

from __future__ import annotations

import dataclasses

import numpy as np

from gainnet.core.registry import SOLVERS
from gainnet.core.scenario import StateBatch
from gainnet.core.seeding import rng_for
from gainnet.core.solver import Budget, Callback, FitReport, Solver
from gainnet.core.validation import Validated


@dataclasses.dataclass(frozen=True)
class NoConfig(Validated):
    """This solver has no hyper-parameters."""


class UntrainedSolver(Solver):
    """A baseline whose ``fit`` does nothing."""

    Config = NoConfig

    def fit(self, budget: Budget, expert=None, callback: Callback | None = None) -> FitReport:
        self.fitted = True
        return FitReport(steps=0, seconds=0.0, expert_labels=0, metrics={})


@SOLVERS.register("uniform")
class Uniform(UntrainedSolver):
    """The decoded all-ones action: equal power on every channel (the "average" scheme)."""

    summary = "equal share of every resource (the seeds' 'average' scheme); no training"

    def decide(self, state: StateBatch) -> np.ndarray:
        self._check_state(state)
        return self.scenario.decode(state, np.ones((len(state), self.scenario.action_dim)))


@SOLVERS.register("random")
class RandomSolver(UntrainedSolver):
    """Decodes actions drawn uniformly from [0, 1]^d (a fresh, seeded stream per call)."""

    summary = "decoded uniform random actions; no training"

    def decide(self, state: StateBatch) -> np.ndarray:
        self._check_state(state)
        rng = rng_for(self.seed, "solver")
        action = rng.uniform(0.0, 1.0, size=(len(state), self.scenario.action_dim))
        return self.scenario.decode(state, action)


@SOLVERS.register("max-power")
class MaxPower(UntrainedSolver):
    """Every transmitter at its power limit (scenarios with a ``max_power`` decision)."""

    summary = "every transmitter at full power (interference); no training"

    @classmethod
    def supports(cls, scenario) -> bool:
        return callable(getattr(scenario, "max_power", None))

    def decide(self, state: StateBatch) -> np.ndarray:
        self._check_state(state)
        return self.scenario.max_power(state)


@SOLVERS.register("greedy")
class Greedy(UntrainedSolver):
    """The scenario's own greedy rule (``iscc-matching``: highest value per resource first)."""

    summary = "highest value per resource first (iscc-matching); no training"

    @classmethod
    def supports(cls, scenario) -> bool:
        return callable(getattr(scenario, "greedy", None))

    def decide(self, state: StateBatch) -> np.ndarray:
        self._check_state(state)
        return self.scenario.greedy(state)
