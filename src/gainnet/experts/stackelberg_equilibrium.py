"""``equilibrium``: the exact Stackelberg equilibrium price of ``stackelberg-split``.

Enumerates ``p = 0`` and every follower switching price (``games.split_pricing``): the server's
utility is linear between them, so the best candidate is the exact optimum. Vectorised over the
batch and the devices: 200 devices take well under a millisecond.
"""

from __future__ import annotations

import numpy as np

from gainnet.core.expert import Expert
from gainnet.core.registry import EXPERTS
from gainnet.games.split_pricing import leader_candidates, leader_optimum


@EXPERTS.register("equilibrium")
class StackelbergEquilibrium(Expert):
    """Exact leader price ``[n, 1]`` with every follower best-responding."""

    name = "equilibrium"
    kind = "exact"
    scenarios = ("stackelberg-split",)

    def _solve(self, state) -> np.ndarray:
        p = self.scenario.params
        price = leader_optimum(self.scenario.values(state), p.theta, p.price_max)
        return price[:, None]

    def _propose(self, state, k: int) -> np.ndarray:
        """The ``k`` best candidate prices ``[k, n, 1]``: exact utilities, ranked."""
        p = self.scenario.params
        prices = leader_candidates(self.scenario.values(state), p.theta, p.price_max, k)
        return np.moveaxis(prices, -1, 0)[..., None]
