"""The public factories: ``make_scenario``, ``make_expert``, ``make_solver`` and the listings.

The registries themselves live in :mod:`gainnet.core.registry` (plugins import them from
there). Unknown names and unknown parameters raise :class:`~gainnet.errors.UnknownNameError`,
whose message lists the known ones; values of the wrong type or range raise
:class:`~gainnet.errors.InvalidConfigError`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gainnet.core.expert import Expert
from gainnet.core.registry import EXPERTS, SCENARIOS, SOLVERS, build_params, load_builtins
from gainnet.core.scenario import Scenario
from gainnet.core.solver import Solver
from gainnet.errors import UnknownNameError


def make_scenario(name: str, preset: str | None = None, **params: Any) -> Scenario:
    """Build a scenario by name, optionally from a preset, with parameter overrides.

    >>> make_scenario("power-allocation", preset="gdmopt", total_power_w=1.0)
    """
    cls = SCENARIOS.get(name)
    values: dict[str, Any] = {}
    if preset is not None:
        if not isinstance(preset, str) or preset not in cls.presets:
            raise UnknownNameError(f"preset of scenario {name!r}", str(preset), list(cls.presets))
        values.update(cls.presets[preset])
    values.update(params)
    return cls(build_params(cls.Params, values, f"scenario {name!r}"))


def make_expert(name: str, scenario: Scenario, **params: Any) -> Expert:
    """Build the expert ``name`` for ``scenario`` with settings (its ``Config`` fields)."""
    cls = EXPERTS.get(name)
    if cls.scenarios and scenario.name not in cls.scenarios:
        load_builtins()
        raise UnknownNameError(
            f"expert for scenario {scenario.name!r}",
            name,
            [n for n in EXPERTS.names() if scenario.name in EXPERTS.get(n).scenarios],
        )
    return cls(scenario, **params)


def make_solver(name: str, scenario: Scenario, seed: int = 0, **params: Any) -> Solver:
    """Build the solver ``name`` for ``scenario`` with hyper-parameter overrides."""
    return SOLVERS.get(name)(scenario, seed=seed, **params)


def list_scenarios() -> list[str]:
    return SCENARIOS.names()


def list_solvers() -> list[str]:
    return SOLVERS.names()


def list_experts() -> list[str]:
    return EXPERTS.names()


def scenario_params(name: str) -> list[str]:
    """The parameter names of scenario ``name``."""
    return [f.name for f in dataclasses.fields(SCENARIOS.get(name).Params)]


__all__ = [
    "EXPERTS",
    "SCENARIOS",
    "SOLVERS",
    "build_params",
    "list_experts",
    "list_scenarios",
    "list_solvers",
    "load_builtins",
    "make_expert",
    "make_scenario",
    "make_solver",
    "scenario_params",
]
