"""The :class:`Expert` interface: a solver that sees the full state (teacher and yardstick)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np

if TYPE_CHECKING:
    from gainnet.core.scenario import Scenario, StateBatch

ExpertKind = Literal["exact", "approximate", "heuristic"]


class Expert(ABC):
    """``solve(state) -> decision`` for a whole batch; ``kind`` says how good it is."""

    name: ClassVar[str]
    kind: ClassVar[ExpertKind]
    #: scenario names this expert can solve
    scenarios: ClassVar[tuple[str, ...]] = ()

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        #: how many instances this expert has labelled (the cycle's label budget counts these)
        self.calls = 0

    def solve(self, state: StateBatch) -> np.ndarray:
        """The expert decision for every instance: ``[n, ...]``, feasible."""
        self.scenario.validate_state(state)
        self.calls += len(state)
        return self._solve(state)

    @abstractmethod
    def _solve(self, state: StateBatch) -> np.ndarray: ...
