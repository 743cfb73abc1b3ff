"""Every registered solver honours the Solver contract on every registered scenario.

Parametrised over ``gainnet.list_solvers()`` x ``gainnet.list_scenarios()`` with each
solver's ``smoke_settings`` (small networks and label sets), default scenario parameters and a
tiny budget that passes every warm-up (``Solver.warmup_steps``), so every code path of every
solver runs and a new solver or scenario is tested without new test code.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import fields as dataclass_fields
from typing import ClassVar

import numpy as np
import pytest
import torch

# diffusers (imported by the diffusion solvers) takes ~2 s: pay that at collection
from diffusers import DDIMScheduler  # noqa: F401

import gainnet
from gainnet.registry import SOLVERS

#: training steps past the warm-up in the tiny budget
STEPS_PAST_WARMUP = 20
#: the most expert labels the tiny budget allows
TINY_LABELS = 512

CASES = [
    pytest.param(solver, scenario, id=f"{solver}-{scenario}")
    for solver in gainnet.list_solvers()
    for scenario in gainnet.list_scenarios()
    if SOLVERS.get(solver).supports(gainnet.make_scenario(scenario))
]


def make(name: str, scenario, seed: int = 0):
    return gainnet.make_solver(name, scenario, seed=seed, **SOLVERS.get(name).smoke_settings)


def tiny_budget(solver, **kwargs) -> gainnet.Budget:
    """Every warm-up plus a few steps of everything; a bounded label set."""
    kwargs.setdefault("expert_labels", TINY_LABELS)
    return gainnet.Budget(steps=solver.warmup_steps() + STEPS_PAST_WARMUP, **kwargs)


class CountingExpert:
    """The scenario's default expert (remembered labels), counting the instances asked for."""

    def __init__(self, scenario):
        self.inner = RememberingExpert(scenario)
        self.calls = 0

    def solve(self, state):
        self.calls += len(state)
        return self.inner.solve(state)


class RememberingExpert:
    """The scenario's default expert, remembering every instance it labelled (across tests).

    The contract refits the same solvers on the same seeded states again and again, and an
    exact expert may take a tenth of a second per instance (a MILP); a deterministic expert's
    labels are the same each time, so each instance is solved once per session."""

    labels: ClassVar[dict[tuple, np.ndarray]] = {}

    def __init__(self, scenario):
        self.inner = scenario.default_expert()
        self.scenario_key = (type(scenario).__name__, repr(scenario.params))

    def solve(self, state):
        keys = [(*self.scenario_key, _digest(state.take([i]))) for i in range(len(state))]
        missing = sorted({i for i, key in enumerate(keys) if key not in self.labels})
        if missing:
            solved = self.inner.solve(state.take(missing))
            for row, i in enumerate(missing):
                self.labels[keys[i]] = solved[row]
        return np.stack([self.labels[key] for key in keys])


def _digest(state) -> str:
    parts = [
        np.ascontiguousarray(getattr(state, f.name)).tobytes() for f in dataclass_fields(state)
    ]
    return hashlib.sha256(b"".join(parts)).hexdigest()


class ForbiddenExpert:
    def solve(self, state):
        raise AssertionError("a solver that does not use an expert asked for a label")


def fitted(name: str, scenario_name: str, seed: int = 0, **budget):
    scenario = gainnet.make_scenario(scenario_name)
    solver = make(name, scenario, seed=seed)
    expert = RememberingExpert(scenario) if SOLVERS.get(name).uses_expert else None
    report = solver.fit(tiny_budget(solver, **budget), expert=expert)
    return solver, report


def held_out(scenario, n=32):
    return scenario.sample(n, gainnet.rng_for(99, "eval"))


@pytest.mark.parametrize(("name", "scenario_name"), CASES)
def test_same_seed_same_decisions(name, scenario_name):
    a, report_a = fitted(name, scenario_name, seed=3)
    b, report_b = fitted(name, scenario_name, seed=3)
    assert report_a.steps == report_b.steps
    state = held_out(a.scenario)
    np.testing.assert_array_equal(a.decide(state), b.decide(state))
    np.testing.assert_array_equal(a.decide(state), a.decide(state))  # deciding is repeatable


@pytest.mark.parametrize(("name", "scenario_name"), CASES)
def test_decisions_are_feasible_and_shaped_like_the_experts(name, scenario_name):
    solver, report = fitted(name, scenario_name)
    assert solver.fitted and isinstance(report, gainnet.FitReport)
    assert 0 <= report.steps <= tiny_budget(solver).steps
    state = held_out(solver.scenario, 100)  # large enough for a solver's batched path
    decision = solver.decide(state)
    assert decision.shape == RememberingExpert(solver.scenario).solve(state).shape
    assert np.issubdtype(decision.dtype, np.floating) and np.all(np.isfinite(decision))
    assert solver.scenario.is_feasible(state, decision).all()
    # a decision does not depend on how much of the batch follows it (float rounding aside;
    # solvers may take different code paths for small and large batches)
    head = solver.decide(state.take(slice(0, 5)))
    scale = float(np.abs(decision).max())
    np.testing.assert_allclose(head, decision[:5], rtol=1e-5, atol=1e-6 * scale)


@pytest.mark.parametrize(("name", "scenario_name"), CASES)
def test_save_then_load_gives_identical_decisions(name, scenario_name, tmp_path):
    solver, _ = fitted(name, scenario_name, seed=2)
    path = solver.save(tmp_path / name)
    assert sorted(p.name for p in path.iterdir()) == [
        "SHA256SUMS",
        "solver.json",
        "weights.safetensors",
    ]
    loaded = gainnet.load_solver(path)
    assert type(loaded) is type(solver) and loaded.seed == 2 and loaded.fitted
    assert loaded.scenario.config() == solver.scenario.config()
    for n in (5, 100):  # small and large batches (solvers may have a path for each)
        state = held_out(solver.scenario, n)
        np.testing.assert_array_equal(loaded.decide(state), solver.decide(state))


@pytest.mark.parametrize(("name", "scenario_name"), CASES)
def test_decide_refuses_a_nan_state(name, scenario_name):
    import dataclasses

    scenario = gainnet.make_scenario(scenario_name)
    solver = make(name, scenario)
    state = held_out(scenario, 4)
    fields = {}
    for field in dataclasses.fields(state):
        value = np.array(getattr(state, field.name), dtype=float, copy=True)
        value.reshape(-1)[0] = np.nan
        fields[field.name] = value
    with pytest.raises(gainnet.InvalidStateError):
        solver.decide(type(state)(**fields))


@pytest.mark.parametrize("name", gainnet.list_solvers())
def test_unknown_parameter_lists_the_known_ones(name):
    import dataclasses

    scenario = gainnet.make_scenario(gainnet.list_scenarios()[0])
    with pytest.raises(gainnet.UnknownNameError) as info:
        gainnet.make_solver(name, scenario, no_such_parameter=1)
    message = str(info.value)
    assert "no_such_parameter" in message and repr(name) in message
    known = [f.name for f in dataclasses.fields(SOLVERS.get(name).Config)]
    assert info.value.known == sorted(known)


@pytest.mark.parametrize(("name", "scenario_name"), CASES)
def test_labels_stay_within_the_budget(name, scenario_name):
    scenario = gainnet.make_scenario(scenario_name)
    solver = make(name, scenario)
    if SOLVERS.get(name).uses_expert:
        expert = CountingExpert(scenario)
        report = solver.fit(tiny_budget(solver, expert_labels=100), expert=expert)
        assert 0 < expert.calls <= 100 and report.expert_labels == expert.calls
    else:  # reward-only and weightless solvers never ask
        report = solver.fit(tiny_budget(solver), expert=ForbiddenExpert())
        assert report.expert_labels == 0


@pytest.mark.parametrize(("name", "scenario_name"), CASES)
def test_the_tiny_budget_trains_every_weight(name, scenario_name):
    """The tiny budget passes every warm-up: every weight tensor moves, and stays finite."""
    scenario = gainnet.make_scenario(scenario_name)
    solver = make(name, scenario)
    before = {k: v.clone() for k, v in solver.weights().items()}
    expert = RememberingExpert(scenario) if SOLVERS.get(name).uses_expert else None
    report = solver.fit(tiny_budget(solver), expert=expert)
    assert report.steps > solver.warmup_steps() or not before
    after = solver.weights()
    assert sorted(after) == sorted(before)
    frozen = [
        key
        for key, value in after.items()
        if value.is_floating_point() and torch.equal(value, before[key])
    ]
    assert not frozen, f"{name} did not train {frozen} within {report.steps} steps"
    assert all(torch.isfinite(v).all() for v in after.values() if v.is_floating_point())


@pytest.fixture
def distinct_global_rngs():
    """Global RNGs set to states no solver would seed them to (restored afterwards)."""
    saved = random.getstate(), np.random.get_state(), torch.random.get_rng_state()  # noqa: NPY002
    random.seed(918_273_645)
    np.random.seed(918_273_645)  # noqa: NPY002
    torch.manual_seed(918_273_645)
    yield
    random.setstate(saved[0])
    np.random.set_state(saved[1])  # noqa: NPY002
    torch.random.set_rng_state(saved[2])


@pytest.mark.parametrize(("name", "scenario_name"), CASES)
def test_no_global_random_state_is_touched(name, scenario_name, tmp_path, distinct_global_rngs):
    """House style: randomness only through named streams, never the global RNGs."""
    np_before, py_before = np.random.get_state(), random.getstate()  # noqa: NPY002
    torch_before = torch.random.get_rng_state().clone()
    solver, _ = fitted(name, scenario_name)
    state = held_out(solver.scenario)
    solver.decide(state)
    gainnet.load_solver(solver.save(tmp_path / "s")).decide(state)
    np_after = np.random.get_state()  # noqa: NPY002
    used = [
        label
        for label, same in (
            ("numpy", np.array_equal(np_before[1], np_after[1]) and np_before[2] == np_after[2]),
            ("random", random.getstate() == py_before),
            ("torch", torch.equal(torch.random.get_rng_state(), torch_before)),
        )
        if not same
    ]
    assert not used, f"{name} used the global RNG of: {', '.join(used)}"


@pytest.mark.parametrize(("name", "scenario_name"), CASES)
def test_same_seed_same_decisions_whatever_the_global_rngs(
    name, scenario_name, distinct_global_rngs
):
    a, _ = fitted(name, scenario_name, seed=5)
    np.random.seed(1)  # noqa: NPY002
    random.seed(1)
    torch.manual_seed(1)
    b, _ = fitted(name, scenario_name, seed=5)
    state = held_out(a.scenario)
    np.testing.assert_array_equal(a.decide(state), b.decide(state))


@pytest.mark.parametrize(("name", "scenario_name"), CASES)
def test_a_callback_returning_false_stops_training(name, scenario_name):
    scenario = gainnet.make_scenario(scenario_name)
    solver = make(name, scenario)
    expert = RememberingExpert(scenario) if SOLVERS.get(name).uses_expert else None
    seen: list[gainnet.FitInfo] = []

    def stop_at_first_report(info):
        seen.append(info)
        return False

    budget = gainnet.Budget(steps=120, expert_labels=TINY_LABELS)
    report = solver.fit(budget, expert=expert, callback=stop_at_first_report)
    if not solver.weights():
        assert report.steps == 0 and not seen  # nothing to train, nothing to report
        return
    assert len(seen) == 1, "a learning solver reports within 120 steps and stops when told"
    info = seen[0]
    assert 0 < info.step == report.steps < 120 and 0 < info.progress <= 1
    assert info.seconds >= 0 and all(np.isfinite(v) for v in info.metrics.values())
