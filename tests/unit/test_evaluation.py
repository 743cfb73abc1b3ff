"""Paired evaluation against the expert on held-out instances."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

# diffusers (imported by the diffusion solvers) takes ~2 s: pay that at collection
from diffusers import DDIMScheduler  # noqa: F401

import gainnet
from gainnet.core.solver import FitReport, Solver


@dataclasses.dataclass(frozen=True)
class _NoConfig:
    pass


class ExpertCopy(Solver):
    """Calls the scenario's expert: the one solver whose ratio must be exactly 1."""

    name = "expert-copy"
    Config = _NoConfig

    def fit(self, budget, expert=None, callback=None):
        return FitReport(steps=0, seconds=0.0, expert_labels=0, metrics={})

    def decide(self, state):
        return self.scenario.default_expert().solve(state)


class Recorder(Solver):
    """Equal power, remembering every state batch it was asked about."""

    name = "recorder"
    Config = _NoConfig

    def __init__(self, scenario, seed=0, **params):
        super().__init__(scenario, seed, **params)
        self.seen = []

    def fit(self, budget, expert=None, callback=None):
        return FitReport(steps=0, seconds=0.0, expert_labels=0, metrics={})

    def decide(self, state):
        self.seen.append(state.gains.copy())
        return np.full(state.gains.shape, self.scenario.params.total_power_w / state.gains.shape[1])


class OverBudget(ExpertCopy):
    """Spends twice the power budget on every other instance."""

    name = "over-budget"

    def decide(self, state):
        decision = super().decide(state)
        decision[::2] *= 2.0
        return decision


def test_equal_power_is_the_known_fraction_of_the_optimum(gdmopt):
    result = gainnet.evaluate(gainnet.make_solver("uniform", gdmopt), gdmopt, single_repeats=2)
    # equal power reaches 0.7862 of water-filling on gdmopt (1e5 instances); the standard error
    # of the ratio at 1000 instances is 0.0017, so +-0.01 is ~6 standard errors
    assert result.ratio == pytest.approx(0.786, abs=0.01)
    assert result.feasible_rate == 1.0
    assert 0.5 < result.p05_ratio < result.ratio
    assert result.instances == 1000 and result.solver == "uniform"
    assert result.scenario == "power-allocation"
    assert result.mean_utility == pytest.approx(result.ratio * result.expert_utility, rel=1e-12)


def test_the_expert_against_itself_scores_exactly_one(gdmopt):
    result = gainnet.evaluate(ExpertCopy(gdmopt), instances=200, single_repeats=3)
    assert result.ratio == 1.0 and result.p05_ratio == 1.0 and result.feasible_rate == 1.0
    assert result.mean_utility == result.expert_utility


def test_every_field_is_present_and_serialisable(gdmopt):
    result = gainnet.evaluate(gainnet.make_solver("random", gdmopt), instances=50)
    fields = {f.name for f in dataclasses.fields(gainnet.Evaluation)}
    assert fields == {
        "solver",
        "scenario",
        "instances",
        "mean_utility",
        "expert_utility",
        "ratio",
        "p05_ratio",
        "feasible_rate",
        "seconds_per_decision",
        "seconds_single",
        "expert_seconds_per_decision",
    }
    row = json.loads(result.to_json())
    assert set(row) == fields and row == result.to_dict()
    for name in ("seconds_per_decision", "seconds_single", "expert_seconds_per_decision"):
        assert 0 < row[name] < 1, name
    text = str(result)
    assert "random" in text and "ratio" in text and f"{result.ratio:.4f}" in text


def test_single_decision_timing_can_be_skipped(gdmopt):
    result = gainnet.evaluate(
        gainnet.make_solver("uniform", gdmopt), instances=10, single_repeats=0
    )
    assert math.isnan(result.seconds_single)


def test_infeasible_decisions_are_counted(gdmopt):
    result = gainnet.evaluate(OverBudget(gdmopt), instances=100, single_repeats=0)
    assert result.feasible_rate == 0.5


def test_instances_come_from_the_eval_stream_and_never_from_training(gdmopt):
    recorder = Recorder(gdmopt)
    gainnet.evaluate(recorder, instances=300, seed=5, single_repeats=1)
    (evaluated,) = [g for g in recorder.seen if len(g) > 1]  # the rest are batch-1 timings
    assert evaluated.shape == (300, 10)
    np.testing.assert_array_equal(evaluated, gdmopt.sample(300, gainnet.rng_for(5, "eval")).gains)
    # a solver trained with the same seed labels instances from the "train" stream
    labelled = []

    class SpyExpert:
        def solve(self, state):
            labelled.append(state.gains.copy())
            return gdmopt.default_expert().solve(state)

    solver = gainnet.make_solver("gdm", gdmopt, seed=5, hidden=8, num_labels=300)
    solver.fit(gainnet.Budget(steps=1), expert=SpyExpert())
    (trained,) = labelled
    assert not (set(map(bytes, trained)) & set(map(bytes, evaluated))), "evaluated on training"


def test_the_seed_picks_the_instances(gdmopt):
    uniform = gainnet.make_solver("uniform", gdmopt)
    a = gainnet.evaluate(uniform, instances=50, seed=0, single_repeats=0)
    b = gainnet.evaluate(uniform, instances=50, seed=0, single_repeats=0)
    c = gainnet.evaluate(uniform, instances=50, seed=1, single_repeats=0)
    assert a.expert_utility == b.expert_utility != c.expert_utility


def test_scenario_defaults_to_the_solvers_own(gdmopt):
    other = gainnet.make_scenario("power-allocation", preset="aigx-t2")
    result = gainnet.evaluate(ExpertCopy(other), instances=20, single_repeats=0)
    state = other.sample(20, gainnet.rng_for(0, "eval"))
    expected = other.default_expert().solve(state)
    assert result.scenario == "power-allocation" and result.instances == 20
    assert result.expert_utility == pytest.approx(other.utility(state, expected).mean(), rel=1e-15)


@pytest.mark.parametrize("instances", [0, -5])
def test_instances_must_be_positive(gdmopt, instances):
    with pytest.raises(gainnet.GainnetError, match="instances"):
        gainnet.evaluate(gainnet.make_solver("uniform", gdmopt), instances=instances)
