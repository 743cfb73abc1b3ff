"""The public factories: ``make_scenario``, ``make_expert``, ``make_solver`` and the listings.

Unknown names and unknown parameters raise :class:`~gainnet.errors.UnknownNameError`, whose
message lists the known ones.
"""

from __future__ import annotations

from typing import Any

from gainnet.core.expert import Expert
from gainnet.core.registry import Registry, build_params
from gainnet.core.scenario import Scenario
from gainnet.core.solver import Solver
from gainnet.errors import UnknownNameError

SCENARIOS: Registry[Scenario] = Registry("scenario")
EXPERTS: Registry[Expert] = Registry("expert")
SOLVERS: Registry[Solver] = Registry("solver")


def _load_builtins() -> None:
    """Import the packages whose modules register the built-in entries."""
    import gainnet.experts
    import gainnet.scenarios
    import gainnet.solvers  # noqa: F401


def make_scenario(name: str, preset: str | None = None, **params: Any) -> Scenario:
    """Build a scenario by name, optionally from a preset, with parameter overrides.

    >>> make_scenario("power-allocation", preset="gdmopt", total_power_w=1.0)
    """
    _load_builtins()
    cls = SCENARIOS.get(name)
    values: dict[str, Any] = {}
    if preset is not None:
        if preset not in cls.presets:
            raise UnknownNameError(f"preset of scenario {name!r}", preset, list(cls.presets))
        values.update(cls.presets[preset])
    values.update(params)
    return cls(build_params(cls.Params, values, f"scenario {name!r}"))


def make_expert(name: str, scenario: Scenario, **params: Any) -> Expert:
    """Build the expert ``name`` for ``scenario`` with settings (its ``Config`` fields)."""
    _load_builtins()
    cls = EXPERTS.get(name)
    if cls.scenarios and scenario.name not in cls.scenarios:
        raise UnknownNameError(
            f"expert for scenario {scenario.name!r}",
            name,
            [n for n in EXPERTS.names() if scenario.name in EXPERTS.get(n).scenarios],
        )
    return cls(scenario, **params)


def make_solver(name: str, scenario: Scenario, seed: int = 0, **params: Any) -> Solver:
    """Build the solver ``name`` for ``scenario`` with hyper-parameter overrides."""
    _load_builtins()
    return SOLVERS.get(name)(scenario, seed=seed, **params)


def list_scenarios() -> list[str]:
    _load_builtins()
    return SCENARIOS.names()


def list_solvers() -> list[str]:
    _load_builtins()
    return SOLVERS.names()


def list_experts() -> list[str]:
    _load_builtins()
    return EXPERTS.names()


def scenario_params(name: str) -> list[str]:
    """The parameter names of scenario ``name``."""
    import dataclasses

    _load_builtins()
    return [f.name for f in dataclasses.fields(SCENARIOS.get(name).Params)]


__all__ = [
    "EXPERTS",
    "SCENARIOS",
    "SOLVERS",
    "build_params",
    "list_experts",
    "list_scenarios",
    "list_solvers",
    "make_expert",
    "make_scenario",
    "make_solver",
]
