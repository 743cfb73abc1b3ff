"""The shared Budget and the TrainingClock that enforces it."""

from __future__ import annotations

import dataclasses
import math
import time

import pytest

# diffusers (imported by the diffusion solvers) takes ~2 s: pay that at collection
from diffusers import DDIMScheduler  # noqa: F401

import gainnet
from gainnet.core.solver import TrainingClock


@pytest.mark.parametrize("kwargs", [{}, {"expert_labels": 100}])
def test_a_budget_needs_steps_or_seconds(kwargs):
    with pytest.raises(gainnet.GainnetError, match=r"steps=\.\.\. or seconds=\.\.\."):
        gainnet.Budget(**kwargs)


@pytest.mark.parametrize("field", ["steps", "seconds", "expert_labels"])
@pytest.mark.parametrize("bad", [0, -1, -0.5, math.nan, math.inf, -math.inf])
def test_non_positive_or_non_finite_limits_are_refused(field, bad):
    kwargs = {"steps": 10, field: bad}
    with pytest.raises(gainnet.GainnetError, match=f"Budget.{field}"):
        gainnet.Budget(**kwargs)


def test_valid_budgets():
    assert gainnet.Budget(steps=1).steps == 1
    assert gainnet.Budget(seconds=0.5).seconds == 0.5
    budget = gainnet.Budget(steps=5, seconds=2.0, expert_labels=7)
    with pytest.raises(dataclasses.FrozenInstanceError):
        budget.steps = 6  # a budget handed to several solvers cannot be changed by one


def test_progress_steps_only():
    budget = gainnet.Budget(steps=200)
    assert budget.progress(0, 1e6) == 0.0  # time does not count without a seconds limit
    assert budget.progress(50, 0.0) == 0.25
    assert budget.progress(400, 0.0) == 1.0  # clamped
    assert not budget.done(199, 1e6) and budget.done(200, 0.0)


def test_progress_seconds_only():
    budget = gainnet.Budget(seconds=4.0)
    assert budget.progress(10**9, 1.0) == 0.25  # steps do not count without a steps limit
    assert budget.progress(0, 5.0) == 1.0
    assert not budget.done(10**9, 3.99) and budget.done(0, 4.0)


def test_progress_is_the_larger_fraction_when_both_are_set():
    budget = gainnet.Budget(steps=100, seconds=10.0)
    assert budget.progress(30, 2.0) == 0.3
    assert budget.progress(30, 7.0) == 0.7
    assert budget.done(100, 0.0) and budget.done(0, 10.0) and not budget.done(99, 9.9)


def test_clock_counts_steps_and_stops_at_the_budget():
    clock = TrainingClock(gainnet.Budget(steps=3), callback=None)
    ticks = 0
    while clock.running():
        clock.tick()
        ticks += 1
    assert ticks == 3 and clock.step == 3 and clock.progress == 1.0


def test_clock_reports_every_n_steps_and_a_false_return_stops_it():
    seen = []

    def callback(info: gainnet.FitInfo):
        seen.append((info.step, info.metrics["loss"]))
        return info.step < 20  # stop at the second report

    clock = TrainingClock(gainnet.Budget(steps=1000), callback, every=10)
    while clock.running():
        clock.tick({"loss": float(clock.step)})
    assert seen == [(10, 9.0), (20, 19.0)]
    assert clock.step == 20


def test_callback_time_is_not_charged_to_the_budget():
    clock = TrainingClock(gainnet.Budget(seconds=0.1), lambda info: time.sleep(0.05), every=1)
    for _ in range(4):  # 0.2 s spent inside the callback, twice the whole budget
        assert clock.running()
        clock.tick()
    assert clock.elapsed_s < 0.1 and clock.running()


def test_gdm_spends_exactly_its_step_budget_and_label_budget(gdmopt):
    expert = gdmopt.default_expert()
    solver = gainnet.make_solver("gdm", gdmopt, hidden=16, batch_size=32)
    report = solver.fit(gainnet.Budget(steps=7, expert_labels=300), expert=expert)
    assert report.steps == 7
    assert report.expert_labels == expert.calls == 300
