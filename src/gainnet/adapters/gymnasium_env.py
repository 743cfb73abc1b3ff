"""A one-shot Gymnasium view of any scenario (for deep-RL baselines).

Each episode is one decision: ``reset`` draws one instance and returns its observation,
``step(action)`` decodes the action to a feasible decision and ends the episode with
``terminated=True`` (Gymnasium's checker rejects an episode truncated after one step, and
"the problem is solved" is the right RL meaning).
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from gainnet.core.scenario import Scenario
from gainnet.core.seeding import rng_for


class ScenarioEnv(gym.Env):
    """Gymnasium environment of ``scenario``.

    Observation: ``Box(low, high, float32)`` with the scenario's ``observation_bounds``.
    Action: ``Box(-1, 1, (action_dim,), float32)``, decoded by the scenario.
    Reward: the utility of the decoded decision times ``reward_scale``.

    Parameters
    ----------
    scenario : Scenario
    seed : int
        Instances come from ``rng_for(seed, "train")`` unless ``reset(seed=...)`` re-seeds.
    reward_scale : float
        Multiplies the utility (RL learners prefer rewards of order one).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self, scenario: Scenario, seed: int = 0, reward_scale: float = 1.0) -> None:
        super().__init__()
        self.scenario = scenario
        self.reward_scale = float(reward_scale)
        low, high = scenario.observation_bounds()
        self.observation_space = gym.spaces.Box(low, high, dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (scenario.action_dim,), dtype=np.float32)
        self._rng = rng_for(seed, "train")
        self._state = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._state = self.scenario.sample(1, self._rng)
        return self.scenario.observe(self._state)[0], {}

    def step(self, action):
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        action = np.asarray(action, dtype=float).reshape(1, -1)
        decision = self.scenario.decode(self._state, action)
        utility = float(self.scenario.utility(self._state, decision)[0])
        info = {
            "utility": utility,
            "feasible": bool(self.scenario.is_feasible(self._state, decision)[0]),
        }
        observation = self.scenario.observe(self._state)[0]
        self._state = None
        return observation, utility * self.reward_scale, True, False, info
