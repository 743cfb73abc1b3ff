"""A reward-trained diffusion solver (``gdm-reward``) trains federated from the scenario's
differentiable utility on the sites' states alone; with a learned critic it is refused."""

from __future__ import annotations

import numpy as np
import pytest

from gainnet.errors import GainnetError
from gainnet.federated import default_sites, federation_from_dict, run_federation
from gainnet.registry import make_scenario


def reward_config(**changes):
    values = {
        "sites": default_sites(3, 200, seed=4),
        "solver": "gdm-reward",
        "solver_params": {"gradient": "utility", "hidden": 32, "batch_size": 64},
        "rounds": 4,
        "local_steps": 25,
        "clients_per_round": 3,
        "selection": "all",
        "learning_rate": 1e-3,
        "eval_instances_per_site": 50,
    }
    return federation_from_dict({**values, **changes})


def test_gdm_reward_learns_from_the_utility_across_sites():
    result = run_federation(reward_config())
    # equal power on the same sites' gains, for scale: well below what the policy reaches
    scenario = make_scenario("power-allocation")
    gains = np.random.default_rng(0).uniform(0.0, 2.0, (500, 10))
    state = type(scenario.sample(1, np.random.default_rng(0)))(gains=gains)
    equal = scenario.utility(state, np.full((500, 10), 0.3))
    best = scenario.utility(state, scenario.default_expert().solve(state))
    assert result["final_ratio"] > max(result["initial_ratio"], equal.mean() / best.mean()) + 0.05
    assert all(0 < r["mean_loss"] for r in result["rounds"])  # softplus(-utility): positive


def test_gdm_reward_with_a_learned_critic_is_refused():
    with pytest.raises(GainnetError, match="gradient = 'utility'"):
        run_federation(reward_config(solver_params={"gradient": "critic"}))
