"""``exhaustive``: the best power vector on a fine grid, for interference channels with K <= 3.

Every transmitter takes one of ``levels`` equally spaced powers in ``[0, P_max]`` (both ends
included); all ``levels^K`` vectors are scored and the best kept. On the grid it is exact, so
it is the yardstick the iterative experts are tested against (for two users the optimum is
known to be binary, one end or the other per transmitter, and lies on every grid).
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from gainnet.core.expert import Expert
from gainnet.core.registry import EXPERTS
from gainnet.core.validation import Validated, setting
from gainnet.errors import GainnetError
from gainnet.wireless.interference import sum_rate_ic_bps_per_hz

MAX_USERS = 3
#: grid points scored at once (instances x grid vectors), to bound memory
CHUNK_POINTS = 2_000_000


@dataclasses.dataclass(frozen=True)
class ExhaustiveConfig(Validated):
    """Settings of ``exhaustive``.

    Attributes
    ----------
    levels : int
        Power levels per transmitter (>= 2): ``levels^K`` candidates per instance.
    """

    levels: int = setting(41, low=2, high=1000)


@EXPERTS.register("exhaustive")
class ExhaustivePower(Expert):
    """Grid search over every power vector; power ``[n, K]`` watts (K <= 3)."""

    kind = "exact"
    scenarios = ("interference",)
    Config = ExhaustiveConfig

    def __init__(self, scenario, **params) -> None:
        super().__init__(scenario, **params)
        if scenario.params.num_users > MAX_USERS:
            raise GainnetError(
                f"exhaustive search is for num_users <= {MAX_USERS} "
                f"({self.config.levels}^K candidates); got {scenario.params.num_users}: "
                "use wmmse-restarts"
            )

    def grid(self) -> np.ndarray:
        """All candidate power vectors, ``[levels^K, K]`` watts."""
        p = self.scenario.params
        axis = np.linspace(0.0, p.max_power_w, self.config.levels)
        return np.array(list(itertools.product(axis, repeat=p.num_users)))

    def _solve(self, state) -> np.ndarray:
        grid = self.grid()
        noise = self.scenario.params.noise_power_w
        rows = max(1, CHUNK_POINTS // len(grid))
        best = []
        for start in range(0, len(state), rows):
            gains = state.gains[start : start + rows]
            rate = sum_rate_ic_bps_per_hz(gains[:, None], grid[None], noise)  # [rows, G]
            best.append(grid[np.argmax(rate, axis=1)])
        return np.concatenate(best)
