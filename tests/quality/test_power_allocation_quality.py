"""Learning works: ratio to water-filling after a FIXED number of training steps (never time).

Thresholds come from ``benchmarks/power_allocation_learning.py`` (docs/benchmarks.md): on the
gdmopt preset ``gdm`` passes 0.999 within ~600 optimiser steps and ``gdm-reward`` passes 0.995
within ~500 steps; the step counts below are several times those, the thresholds the issue's
targets (0.995 / 0.999 for gdm, 0.99 for gdm-reward).
"""

from __future__ import annotations

import pytest

import gainnet

pytestmark = pytest.mark.slow


class ForbiddenExpert:
    """Fails the test if a reward-only solver ever asks for an expert label."""

    def solve(self, state):
        raise AssertionError("gdm-reward called the expert")


@pytest.mark.parametrize("preset", ["gdmopt", "aigx-t1", "aigx-t2"])
def test_gdm_imitation_reaches_the_optimum(preset):
    scenario = gainnet.make_scenario("power-allocation", preset=preset)
    solver = gainnet.make_solver("gdm", scenario, seed=0)
    solver.fit(gainnet.Budget(steps=3000), expert=scenario.default_expert())
    result = gainnet.evaluate(solver, scenario, instances=1000, seed=1, single_repeats=0)
    assert result.feasible_rate == 1.0
    assert result.ratio >= 0.999, result
    assert result.p05_ratio >= 0.995, result


@pytest.mark.parametrize("gradient", ["critic", "utility"])
def test_gdm_reward_learns_from_utility_alone(gradient):
    scenario = gainnet.make_scenario("power-allocation", preset="gdmopt")
    solver = gainnet.make_solver("gdm-reward", scenario, seed=0, gradient=gradient)
    solver.fit(gainnet.Budget(steps=1500), expert=ForbiddenExpert())
    result = gainnet.evaluate(solver, scenario, instances=1000, seed=1, single_repeats=0)
    uniform = gainnet.make_solver("uniform", scenario)
    equal_power = gainnet.evaluate(uniform, scenario, instances=1000, seed=1, single_repeats=0)
    assert result.feasible_rate == 1.0
    # the reference code's reward mode ends at equal power (0.785): ours must not
    assert result.ratio >= 0.99 > equal_power.ratio + 0.2, (result, equal_power)


@pytest.mark.parametrize(
    ("name", "env_steps", "threshold"), [("sac", 1500, 0.98), ("ppo", 10240, 0.98)]
)
def test_deep_rl_baselines_learn(name, env_steps, threshold):
    """The baselines are real competitors, not strawmen: measured 0.995 (sac) and 0.990 (ppo)
    at these step counts when the threshold was set (benchmarks/power_allocation_learning.py
    shows both above 0.99 within 10 s).
    """
    scenario = gainnet.make_scenario("power-allocation", preset="gdmopt")
    solver = gainnet.make_solver(name, scenario, seed=0)
    solver.fit(gainnet.Budget(steps=env_steps), expert=ForbiddenExpert())
    result = gainnet.evaluate(solver, scenario, instances=1000, seed=1, single_repeats=0)
    assert result.feasible_rate == 1.0
    assert result.ratio >= threshold, result
