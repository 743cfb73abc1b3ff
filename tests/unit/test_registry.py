"""Registries and factories: errors that list the known names."""

from __future__ import annotations

import dataclasses

import pytest

import gainnet
from gainnet.core.registry import Registry, build_params, params_to_dict
from gainnet.registry import scenario_params


def test_listings_are_sorted_and_hold_the_built_ins():
    for listing in (gainnet.list_scenarios(), gainnet.list_solvers(), gainnet.list_experts()):
        assert listing == sorted(listing) and len(set(listing)) == len(listing)
    assert "power-allocation" in gainnet.list_scenarios()
    assert {"gdm", "gdm-reward", "uniform", "random"} <= set(gainnet.list_solvers())
    assert "water-filling" in gainnet.list_experts()


@pytest.mark.parametrize(
    ("make", "kind", "known"),
    [
        (lambda s: gainnet.make_scenario("power-alocation"), "scenario", gainnet.list_scenarios),
        (lambda s: gainnet.make_solver("gdn", s), "solver", gainnet.list_solvers),
        (lambda s: gainnet.make_expert("waterfilling", s), "expert", gainnet.list_experts),
        (
            lambda s: gainnet.make_scenario("power-allocation", preset="gdm"),
            "preset of scenario 'power-allocation'",
            lambda: ["aigx-t1", "aigx-t2", "gdmopt"],
        ),
        (
            lambda s: gainnet.make_scenario("power-allocation", power_w=1.0),
            "parameter of scenario 'power-allocation'",
            lambda: scenario_params("power-allocation"),
        ),
    ],
    ids=["scenario", "solver", "expert", "preset", "scenario-parameter"],
)
def test_unknown_names_list_every_known_one(make, kind, known, gdmopt):
    with pytest.raises(gainnet.UnknownNameError) as info:
        make(gdmopt)
    error = info.value
    assert error.kind == kind
    assert error.known == sorted(known())
    message = str(error)
    assert message.startswith(f"unknown {kind} ")
    assert all(name in message for name in known())


@pytest.mark.parametrize("name", ["gdm", "gdm-reward"])
def test_unknown_solver_parameter_names_the_solver_and_its_parameters(name, gdmopt):
    with pytest.raises(gainnet.UnknownNameError) as info:
        gainnet.make_solver(name, gdmopt, hiden=16)
    assert info.value.name == "hiden" and f"solver {name!r}" in str(info.value)
    assert "hidden" in info.value.known and "num_inference_steps" in info.value.known


def test_errors_are_value_errors_under_one_base():
    for cls in (
        gainnet.UnknownNameError,
        gainnet.InvalidStateError,
        gainnet.InvalidDecisionError,
        gainnet.CheckpointError,
    ):
        assert issubclass(cls, gainnet.GainnetError)
    assert issubclass(gainnet.GainnetError, ValueError)


def test_an_expert_refuses_a_scenario_it_cannot_solve(gdmopt):
    class Other:
        name = "some-other-problem"

    with pytest.raises(gainnet.UnknownNameError) as info:
        gainnet.make_expert("water-filling", Other())
    assert "some-other-problem" in str(info.value) and "(none)" in str(info.value)


def test_registry_names_its_entries_and_refuses_duplicates():
    registry: Registry[object] = Registry("widget")

    @registry.register("b-widget")
    class B:
        pass

    @registry.register("a-widget")
    class A:
        pass

    assert B.name == "b-widget" and registry.get("a-widget") is A
    assert registry.names() == ["a-widget", "b-widget"]
    with pytest.raises(gainnet.GainnetError, match="registered twice"):
        registry.register("a-widget")(type("C", (), {}))
    with pytest.raises(gainnet.UnknownNameError, match="known: a-widget, b-widget"):
        registry.get("c-widget")
    with pytest.raises(gainnet.UnknownNameError, match=r"\(none\)"):
        Registry("gadget").get("x")


def test_params_round_trip_through_a_json_friendly_dict():
    @dataclasses.dataclass(frozen=True)
    class Params:
        size: int = 3
        bounds: tuple[float, ...] = (1.0, 2.0)

    params = build_params(Params, {"size": 4}, "thing 'x'")
    assert params == Params(size=4)
    assert params_to_dict(params) == {"size": 4, "bounds": [1.0, 2.0]}
    with pytest.raises(gainnet.UnknownNameError, match="parameter of thing 'x'"):
        build_params(Params, {"sise": 4}, "thing 'x'")


def test_solver_config_is_built_from_keyword_parameters(gdmopt):
    solver = gainnet.make_solver("gdm", gdmopt, seed=3, hidden=24)
    assert solver.name == "gdm" and solver.seed == 3
    assert solver.config.hidden == 24 and solver.scenario is gdmopt and not solver.fitted
