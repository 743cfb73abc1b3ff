"""Random values of every type and range for every config field of every registered
component: the outcome is a GainnetError (naming the field) or a valid object that then runs,
never another exception and never a hang.

Components: every scenario's Params, expert's Config and solver's Config in the registry, and
the Budget, CycleConfig, Phase, ServerConfig and FrameLimits. One field is drawn per example
(the others keep their defaults), through ``build_params``, the path TOML, ``--set``, JSON
checkpoints and Python keywords all take.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gainnet
from gainnet.continual.cycle import CycleConfig, Phase
from gainnet.core.registry import EXPERTS, SCENARIOS, SOLVERS, build_params, load_builtins
from gainnet.errors import GainnetError
from gainnet.split.protocol import FrameLimits
from gainnet.split.server import ServerConfig

load_builtins()

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 2, 3, -1, 10**4, 10**9, 2**63, 0.5, 1.5, 1e-300]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308, -0.0]),
    st.text(max_size=12),
    st.sampled_from(["", "3", "nan", "x[/b]", "gdmopt", "utility", "incomplete", "dropout"]),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=6),
    st.lists(st.floats(min_value=-10, max_value=1e4), min_size=1, max_size=40),
    st.dictionaries(st.text(max_size=5), SCALARS, max_size=3),
)


def _near(field: dataclasses.Field) -> st.SearchStrategy:
    """Values close to the field's default, so that many examples are valid and run."""
    default = field.default
    if default is dataclasses.MISSING and field.default_factory is not dataclasses.MISSING:
        default = field.default_factory()
    if isinstance(default, bool):
        return st.booleans()
    if isinstance(default, int):
        return st.integers(min_value=max(default // 2, 1), max_value=2 * abs(default) + 8)
    if isinstance(default, float):
        return st.floats(min_value=abs(default) / 2 + 1e-6, max_value=2 * abs(default) + 1.0)
    if isinstance(default, tuple) and default and isinstance(default[0], float):
        low, high = min(default), max(default)
        return st.lists(
            st.floats(low / 2, 2 * high + 1e-9), min_size=len(default), max_size=len(default)
        )
    return st.just(default)


def _field_values(cls):
    fields = dataclasses.fields(cls)
    if not fields:
        return st.nothing()
    # half the examples near the default (valid and run), half anything at all
    return st.tuples(st.sampled_from(fields), st.booleans()).flatmap(
        lambda pick: st.tuples(st.just(pick[0].name), _near(pick[0]) if pick[1] else VALUES)
    )


def _fields(cls) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _tiny_state(scenario, n=2):
    return scenario.sample(n, gainnet.rng_for(0, "eval"))


def run_scenario(name, params):
    scenario = SCENARIOS.get(name)(params)
    state = _tiny_state(scenario)
    decision = scenario.default_expert().solve(state)
    assert np.all(np.isfinite(scenario.utility(state, decision)))


def run_expert(name, config_values):
    cls = EXPERTS.get(name)
    scenario = gainnet.make_scenario(cls.scenarios[0])
    expert = gainnet.make_expert(name, scenario, **config_values)
    state = _tiny_state(scenario)
    assert scenario.is_feasible(state, expert.solve(state)).all()


def run_solver(name, config_values):
    cls = SOLVERS.get(name)
    scenario = next(
        gainnet.make_scenario(s)
        for s in SCENARIOS.names()
        if cls.supports(gainnet.make_scenario(s))
    )
    solver = gainnet.make_solver(name, scenario, **config_values)
    state = _tiny_state(scenario, 1)
    assert scenario.is_feasible(state, solver.decide(state)).all()


def outcome(build, run=None) -> None:
    """``build()`` then ``run(obj)``: anything but a GainnetError fails the test."""
    try:
        obj = build()
    except GainnetError as exc:
        assert str(exc), "an error says what is wrong"
        return
    if run is not None:
        try:
            run(obj)
        except GainnetError:
            pass  # refused at run time, clearly (e.g. a capability or a size vs. the scenario)


FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    derandomize=True,
)


@pytest.mark.parametrize("name", SCENARIOS.names())
@FUZZ
@given(data=st.data())
def test_scenario_params(name, data):
    cls = SCENARIOS.get(name).Params
    key, value = data.draw(_field_values(cls))
    outcome(
        lambda: build_params(cls, {key: value}, f"scenario {name!r}"),
        lambda params: run_scenario(name, params),
    )


@pytest.mark.parametrize("name", [n for n in EXPERTS.names() if _fields(EXPERTS.get(n).Config)])
@FUZZ
@given(data=st.data())
def test_expert_configs(name, data):
    cls = EXPERTS.get(name).Config
    key, value = data.draw(_field_values(cls))
    outcome(
        lambda: build_params(cls, {key: value}, f"expert {name!r}"),
        lambda _: run_expert(name, {key: value}),
    )


@pytest.mark.parametrize("name", [n for n in SOLVERS.names() if _fields(SOLVERS.get(n).Config)])
@FUZZ
@given(data=st.data())
def test_solver_configs(name, data):
    cls = SOLVERS.get(name).Config
    key, value = data.draw(_field_values(cls))
    outcome(
        lambda: build_params(cls, {key: value}, f"solver {name!r}"),
        lambda _: run_solver(name, {key: value}),
    )


@pytest.mark.parametrize(
    "cls", [gainnet.Budget, Phase, CycleConfig, ServerConfig, FrameLimits], ids=lambda c: c.__name__
)
@FUZZ
@given(data=st.data())
def test_framework_configs(cls, data):
    key, value = data.draw(_field_values(cls))
    required = {"phases": (Phase("T1", 1),)} if cls is CycleConfig else {}
    if cls is Phase:
        required = {"name": "T1", "rounds": 1}
    if cls is gainnet.Budget and key != "steps":
        required = {"steps": 1}
    outcome(lambda: build_params(cls, {**required, key: value}, cls.__name__))


@FUZZ
@given(n=SCALARS)
def test_sample_counts(n):
    scenario = gainnet.make_scenario("power-allocation")
    outcome(lambda: scenario.sample(n, gainnet.rng_for(0, "eval")), lambda s: len(s) == n)


@FUZZ
@given(seed=SCALARS, stream=SCALARS)
def test_seeds_and_streams(seed, stream):
    outcome(lambda: gainnet.rng_for(seed, stream))


def test_the_strategies_reach_both_outcomes():
    """Guard against a fuzz test that only ever sees errors (or only successes)."""
    accepted = refused = 0
    for value in (1, 2, 3, 1.5, "x", math.nan, 10**9, None):
        try:
            build_params(SOLVERS.get("gdm").Config, {"hidden": value}, "gdm")
            accepted += 1
        except GainnetError:
            refused += 1
    assert accepted >= 3 and refused >= 4
