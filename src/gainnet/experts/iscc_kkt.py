"""``iscc-kkt``: the exact optimum of ``iscc-slot`` from its KKT conditions, batched.

Compute in closed form, each user's sensing/generation split in closed form (Wright's omega),
bandwidth by Newton's method on the common multiplier; see :mod:`gainnet.orchestration.slot`.
With ``integer_steps=True`` the continuous optimum's steps are made whole per user
(:mod:`gainnet.orchestration.integer_steps`): exact for its bandwidth and compute, not a
guaranteed integer optimum; the rounding gap is the difference to the continuous optimum.
"""

from __future__ import annotations

import numpy as np

from gainnet.core.expert import Expert
from gainnet.core.registry import EXPERTS
from gainnet.core.scenario import StateBatch
from gainnet.orchestration.slot import solve_slot


@EXPERTS.register("iscc-kkt")
class IsccKkt(Expert):
    """Exact optimum of ``iscc-slot`` (vectorised over instances and users)."""

    kind = "exact"
    scenarios = ("iscc-slot",)

    def __init__(self, scenario, **params) -> None:
        super().__init__(scenario, **params)
        if scenario.params.integer_steps:  # exact for its (b, f), not proven over integers
            self.kind = "approximate"

    def _solve(self, state: StateBatch) -> np.ndarray:
        p = self.scenario.params
        solution = solve_slot(
            payload_bits=state.payload_bits,
            snr_per_hz=state.snr_per_hz,
            sensing_rate_per_s=state.sensing_rate_per_s,
            flops_per_step=state.flops_per_step,
            weight=state.weight,
            quality_slope=state.quality_slope,
            deadline_s=p.deadline_s,
            bandwidth_hz=p.bandwidth_hz,
            compute_flops=p.compute_flops,
            alpha=p.alpha,
        )
        decision = solution.stacked()
        return self.scenario.whole_steps(state, decision) if p.integer_steps else decision
