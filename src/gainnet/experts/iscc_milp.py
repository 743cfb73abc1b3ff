"""``iscc-milp``: the optimal matching of ``iscc-matching`` by HiGHS, with its LP bound.

Each instance is a 0/1 programme (:func:`gainnet.orchestration.matching.solve_milp`) solved by
``scipy.optimize.milp`` (HiGHS) to ``mip_rel_gap``; its LP relaxation, an upper bound, is
kept beside it (:attr:`IsccMilp.last`). The solution passes through the scenario's repair
(``decode(encode(x))``), which keeps it when it is feasible and maximal and otherwise only
serves more. One MILP per instance: this is the expert whose time grows with R and S.

Exact where HiGHS proves optimality within ``time_limit_s`` (``optimal`` in :attr:`IsccMilp.last`,
always so at the ``small`` preset); where the limit stops it, the answer is HiGHS's best
incumbent, a *best-known* solution, and the LP bound says how far from optimal it can be at most.
Reports that compare against it say which it was.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from gainnet.core.expert import Expert
from gainnet.core.registry import EXPERTS
from gainnet.core.scenario import StateBatch
from gainnet.core.validation import Validated, setting
from gainnet.orchestration.matching import MilpResult, solve_milp


@dataclasses.dataclass(frozen=True)
class IsccMilpConfig(Validated):
    """Settings of ``iscc-milp``.

    Attributes
    ----------
    time_limit_s : float
        HiGHS's limit per instance; an instance stopped by it is not proven optimal
        (``optimal`` is False in :attr:`IsccMilp.last`).
    mip_rel_gap : float
        The relative optimality gap at which HiGHS stops (1e-9: optimal to rounding).
    """

    time_limit_s: float = setting(600.0, gt=0, high=86_400.0)
    mip_rel_gap: float = setting(1e-9, low=0.0, high=1.0)


@EXPERTS.register("iscc-milp")
class IsccMilp(Expert):
    """Optimal matching by mixed-integer programming (one HiGHS solve per instance)."""

    kind = "exact"
    scenarios = ("iscc-matching",)
    Config = IsccMilpConfig

    def __init__(self, scenario, **params) -> None:
        super().__init__(scenario, **params)
        #: the per-instance results of the last ``solve`` (value, LP bound, optimality, time)
        self.last: list[MilpResult] = []

    def _solve(self, state: StateBatch) -> np.ndarray:
        need = self.scenario.demands(state)
        pools = state.pools()
        self.last = [
            solve_milp(
                need,
                pools,
                i,
                time_limit_s=self.config.time_limit_s,
                mip_rel_gap=self.config.mip_rel_gap,
            )
            for i in range(len(state))
        ]
        decision = np.stack([result.decision for result in self.last])
        return self.scenario.decode(state, self.scenario.encode(state, decision))
