"""``gdm-reward`` settings: the update-to-data ratio."""

from __future__ import annotations

import pytest

import gainnet
from gainnet.errors import GainnetError


@pytest.mark.parametrize("updates", [1, 3])
def test_each_exploration_batch_gets_updates_per_step_critic_and_policy_steps(updates):
    scenario = gainnet.make_scenario("stackelberg-split", information="incomplete")
    solver = gainnet.make_solver(
        "gdm-reward", scenario, seed=0, hidden=16, critic_hidden=16, batch_size=8,
        warmup_steps=0, updates_per_step=updates,
    )  # fmt: skip
    calls = []
    solver.critic.register_forward_hook(lambda module, args, out: calls.append(len(out)))
    report = solver.fit(gainnet.Budget(steps=4))
    # per update: one critic regression and one policy step through the critic
    assert report.steps == 4 and len(calls) == 4 * updates * 2
    state = scenario.sample(5, gainnet.rng_for(0, "eval"))
    assert scenario.is_feasible(state, solver.decide(state)).all()


@pytest.mark.parametrize("bad", [0, -2, True, 2.5, "4"])
def test_bad_updates_per_step_is_refused(bad):
    scenario = gainnet.make_scenario("stackelberg-split")
    with pytest.raises(GainnetError, match="updates_per_step"):
        gainnet.make_solver("gdm-reward", scenario, updates_per_step=bad)
