"""The :class:`Expert` interface: a solver that sees the full state (teacher and yardstick)."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from gainnet.core.registry import build_params
from gainnet.errors import GainnetError

if TYPE_CHECKING:
    from gainnet.core.scenario import Scenario, StateBatch

ExpertKind = Literal["exact", "approximate", "heuristic"]


@dataclasses.dataclass(frozen=True)
class NoExpertConfig:
    """This expert has no settings."""


class Expert(ABC):
    """``solve(state) -> decision`` for a whole batch; ``kind`` says how good it is.

    Settings (iterations, tolerances, ...) are fields of the dataclass ``Config``, set by
    keyword: ``make_expert("wmmse", scenario, iterations=50)``; unknown names are listed.
    """

    name: ClassVar[str]
    kind: ClassVar[ExpertKind]
    #: scenario names this expert can solve
    scenarios: ClassVar[tuple[str, ...]] = ()
    Config: ClassVar[type] = NoExpertConfig

    def __init__(self, scenario: Scenario, **params: Any) -> None:
        self.scenario = scenario
        self.config = build_params(self.Config, params, f"expert {self.name!r}")
        #: how many instances this expert has labelled (the cycle's label budget counts these)
        self.calls = 0

    def solve(self, state: StateBatch) -> np.ndarray:
        """The expert decision for every instance: ``[n, ...]``, feasible."""
        self.scenario.validate_state(state)
        self.calls += len(state)
        return self._solve(state)

    def propose(self, state: StateBatch, k: int) -> np.ndarray:
        """``k`` good decisions per instance, ``[k, n, ...]``, best first by the expert's own
        ranking (the first is :meth:`solve`'s). A generative solver can learn this spread of
        good decisions instead of one point, where the best decision jumps between instances.
        Experts that know only one decision raise :class:`~gainnet.errors.GainnetError`.
        """
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise GainnetError(f"propose needs k >= 1 decisions, got {k!r}")
        self.scenario.validate_state(state)
        self.calls += len(state)
        return self._propose(state, int(k))

    @abstractmethod
    def _solve(self, state: StateBatch) -> np.ndarray: ...

    def _propose(self, state: StateBatch, k: int) -> np.ndarray:
        if k == 1:
            return self._solve(state)[None]
        raise GainnetError(f"expert {self.name!r} gives one decision per instance, not {k}")
