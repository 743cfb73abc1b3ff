"""``iscc-kkt``: the exact optimum of ``iscc-slot`` from its KKT conditions, batched.

Compute in closed form, each user's sensing/generation split in closed form (Wright's omega),
bandwidth by Newton's method on the common multiplier; see :mod:`gainnet.orchestration.slot`.
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
        return solution.stacked()
