"""Registries, seeding and budgets."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gainnet


def test_listings():
    assert "power-allocation" in gainnet.list_scenarios()
    assert {"gdm", "gdm-reward", "sac", "ppo", "uniform", "random"} <= set(gainnet.list_solvers())
    assert "water-filling" in gainnet.list_experts()


@pytest.mark.parametrize(
    ("call", "listed"),
    [
        (lambda: gainnet.make_scenario("nope"), "power-allocation"),
        (lambda: gainnet.make_scenario("power-allocation", preset="nope"), "aigx-t1"),
        (lambda: gainnet.make_scenario("power-allocation", total_power=1.0), "total_power_w"),
        (lambda: gainnet.make_solver("nope", gainnet.make_scenario("power-allocation")), "gdm"),
        (
            lambda: gainnet.make_solver("gdm", gainnet.make_scenario("power-allocation"), lr=1),
            "learning_rate",
        ),
        (lambda: gainnet.make_expert("nope", gainnet.make_scenario("power-allocation")), "water"),
    ],
)
def test_unknown_names_list_the_known_ones(call, listed):
    with pytest.raises(gainnet.UnknownNameError, match="known: ") as info:
        call()
    assert listed in str(info.value)


def test_make_expert_by_name(gdmopt):
    assert gainnet.make_expert("water-filling", gdmopt).kind == "exact"


def test_preset_with_override():
    scenario = gainnet.make_scenario("power-allocation", preset="aigx-t1", total_power_w=1.0)
    assert scenario.params.num_channels == 20 and scenario.params.total_power_w == 1.0


def test_named_streams_are_independent_and_reproducible():
    a = gainnet.rng_for(0, "train").random(5)
    np.testing.assert_array_equal(a, gainnet.rng_for(0, "train").random(5))
    assert not np.allclose(a, gainnet.rng_for(0, "eval").random(5))
    assert not np.allclose(a, gainnet.rng_for(1, "train").random(5))
    with pytest.raises(ValueError):
        gainnet.rng_for(-1, "train")


def test_budget():
    with pytest.raises(gainnet.GainnetError, match="steps"):
        gainnet.Budget()
    for bad in (0, -3, math.nan, math.inf):
        with pytest.raises(gainnet.GainnetError):
            gainnet.Budget(steps=bad)
    budget = gainnet.Budget(steps=100, seconds=10.0)
    assert budget.progress(50, 1.0) == 0.5
    assert budget.progress(10, 8.0) == 0.8
    assert budget.done(100, 0.0) and budget.done(0, 10.0) and not budget.done(99, 9.9)


def test_callback_returning_false_stops_training(gdmopt):
    solver = gainnet.make_solver("gdm", gdmopt, hidden=16)
    seen = []

    def callback(info):
        seen.append(info.step)
        return info.step < 100

    report = solver.fit(gainnet.Budget(steps=10_000), callback=callback)
    assert report.steps == 100 and seen[-1] == 100
