"""Training feedback other than the utility itself.

:class:`ImprovementFeedback` is seed 002's optional reward: 1 when the utility of this
interaction rose above the previous interaction's, else 0. It wraps a scenario for TRAINING
only (a solver trained on it is evaluated on the plain scenario). Interactions are the rows of
successive ``utility`` calls in order; the first row of a call compares with the last row of
the call before.
"""

from __future__ import annotations

import numpy as np

from gainnet.core.scenario import Scenario


class ImprovementFeedback:
    """A view of ``scenario`` whose ``utility`` is the binary improvement signal ``[n]``.

    Every other attribute is the wrapped scenario's.
    """

    def __init__(self, scenario: Scenario) -> None:
        self.base = scenario
        self.previous: float | None = None

    def __getattr__(self, name: str):
        return getattr(self.base, name)

    def utility(self, state, decision) -> np.ndarray:
        utility = self.base.utility(state, decision)
        if utility.size == 0:
            return utility
        first = utility[0] if self.previous is None else self.previous
        previous = np.concatenate([[first], utility[:-1]])
        self.previous = float(utility[-1])
        return (utility > previous).astype(float)

    #: the improvement signal is not differentiable: solvers that need a differentiable
    #: utility are refused by ``make_solver`` (see ``gainnet.core.solver.CAPABILITIES``)
    utility_torch = None
