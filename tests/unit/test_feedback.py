"""Seed 002's binary reward: 1 when the utility rose over the previous interaction."""

from __future__ import annotations

import numpy as np

import gainnet
from gainnet.core.feedback import ImprovementFeedback
from gainnet.core.solver import scenario_capabilities


class Fixed:
    """A stand-in scenario whose utility is the decision itself."""

    name = "fixed"

    def utility(self, state, decision):
        return np.asarray(decision, dtype=float)


def test_improvement_signal_follows_the_stream_across_calls():
    feedback = ImprovementFeedback(Fixed())
    np.testing.assert_array_equal(
        feedback.utility(None, [1.0, 2.0, 2.0, 1.0, 3.0]), [0, 1, 0, 0, 1]
    )
    # the first row of the next call compares with the last row of this one (3.0)
    np.testing.assert_array_equal(feedback.utility(None, [2.0, 4.0]), [0, 1])
    assert feedback.name == "fixed"


def test_a_real_scenario_trains_on_it_and_keeps_everything_else():
    scenario = gainnet.make_scenario("stackelberg-split")
    feedback = ImprovementFeedback(scenario)
    state = scenario.sample(64, gainnet.rng_for(0, "eval"))
    price = gainnet.rng_for(0, "explore").uniform(0, 2, (64, 1))
    signal = feedback.utility(state, price)
    assert set(np.unique(signal)) <= {0.0, 1.0}
    true = scenario.utility(state, price)
    np.testing.assert_array_equal(signal[1:], (true[1:] > true[:-1]).astype(float))
    assert feedback.observation_dim == scenario.observation_dim
    assert "utility_torch" not in scenario_capabilities(feedback)  # not differentiable
    solver = gainnet.make_solver("gdm-reward", feedback, seed=0, hidden=16, batch_size=32)
    solver.fit(gainnet.Budget(steps=60))
    assert scenario.is_feasible(state, solver.decide(state)).all()


def test_reproduce_refuses_unknown_feedback():
    from typer.testing import CliRunner

    from gainnet.cli import app

    result = CliRunner().invoke(app, ["reproduce", "edge-incentive", "--feedback", "binary"])
    assert result.exit_code == 2
    result = CliRunner().invoke(app, ["reproduce", "aigx", "--feedback", "improvement"])
    assert result.exit_code == 2
