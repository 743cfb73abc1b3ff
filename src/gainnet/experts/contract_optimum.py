"""``contract-optimum``: the exact provider-optimal menu of ``contract``.

See ``games.contract_theory``: virtual types, ironed by weighted isotonic regression, give the
qualities (clipped to the scenario's ``quality_max`` when it has one); binding payments give
the prices. Checked in the tests against a cvxpy formulation
with every IR and IC constraint.
"""

from __future__ import annotations

import numpy as np

from gainnet.core.expert import Expert
from gainnet.core.registry import EXPERTS
from gainnet.games.contract_theory import binding_payments, optimal_qualities


@EXPERTS.register("contract-optimum")
class ContractOptimum(Expert):
    """Exact optimal ``[n, 2K]`` menus (qualities then payments)."""

    name = "contract-optimum"
    kind = "exact"
    scenarios = ("contract",)

    def _solve(self, state) -> np.ndarray:
        quality = optimal_qualities(state.theta, state.prior, state.cost)
        cap = self.scenario.params.quality_max
        if cap is not None:  # the objective is concave in each ironed block: clipping is exact
            quality = np.minimum(quality, cap)
        return np.concatenate([quality, binding_payments(state.theta, quality)], axis=1)
