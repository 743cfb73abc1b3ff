"""The Gymnasium adapter of every registered scenario passes Gymnasium's own checker."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import gainnet
from gainnet.adapters import ScenarioEnv

SCENARIOS = gainnet.list_scenarios()


@pytest.mark.parametrize("name", SCENARIOS)
def test_check_env_passes(name):
    check_env(ScenarioEnv(gainnet.make_scenario(name), seed=0), skip_render_check=True)


@pytest.mark.parametrize("name", SCENARIOS)
def test_one_step_episode_rewards_the_decoded_utility(name):
    scenario = gainnet.make_scenario(name)
    env = ScenarioEnv(scenario, seed=0, reward_scale=2.0)
    observation, _ = env.reset(seed=5)
    assert env.observation_space.contains(observation)
    action = env.action_space.sample()
    state = scenario.sample(1, np.random.default_rng(5))  # what reset(seed=5) drew
    np.testing.assert_array_equal(scenario.observe(state)[0], observation)
    _, reward, terminated, truncated, info = env.step(action)
    expected = scenario.utility(state, scenario.decode(state, action[None].astype(float)))[0]
    assert terminated and not truncated and info["feasible"]
    assert reward == pytest.approx(2.0 * expected) and info["utility"] == pytest.approx(expected)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(action)  # the episode is over


def test_reset_is_reproducible_with_a_seed():
    env = ScenarioEnv(gainnet.make_scenario("power-allocation"), seed=0)
    first, _ = env.reset(seed=3)
    again, _ = env.reset(seed=3)
    np.testing.assert_array_equal(first, again)
