"""gainnet: generative diffusion models that make decisions for 6G and mobile-edge networks.

Every learned solver is measured against an exact or best-known expert on the same instances.

>>> import gainnet, numpy as np
>>> scenario = gainnet.make_scenario("power-allocation", preset="gdmopt")
>>> solver = gainnet.make_solver("gdm", scenario, seed=0)
>>> solver.fit(gainnet.Budget(seconds=30), expert=scenario.default_expert())
>>> print(gainnet.evaluate(solver, scenario))
"""

from __future__ import annotations

__version__ = "0.1.0"

from gainnet.checkpoint import load_solver
from gainnet.core.expert import Expert
from gainnet.core.scenario import Scenario, StateBatch
from gainnet.core.seeding import rng_for
from gainnet.core.solver import Budget, FitInfo, FitReport, Solver
from gainnet.errors import (
    CheckpointError,
    GainnetError,
    InvalidConfigError,
    InvalidDecisionError,
    InvalidStateError,
    StoreError,
    UnknownNameError,
)
from gainnet.evaluation import Evaluation, evaluate
from gainnet.registry import (
    list_experts,
    list_scenarios,
    list_solvers,
    make_expert,
    make_scenario,
    make_solver,
)

_LAZY = {"Cycle", "CycleConfig", "Phase"}


def __getattr__(name: str):
    """``gainnet.Cycle``, ``gainnet.CycleConfig``, ``gainnet.Phase`` load on first use."""
    if name in _LAZY:
        import gainnet.continual

        return getattr(gainnet.continual, name)
    raise AttributeError(f"module 'gainnet' has no attribute {name!r}")


__all__ = [
    "Budget",
    "CheckpointError",
    "Cycle",
    "CycleConfig",
    "Evaluation",
    "Expert",
    "FitInfo",
    "FitReport",
    "GainnetError",
    "InvalidConfigError",
    "InvalidDecisionError",
    "InvalidStateError",
    "Phase",
    "Scenario",
    "Solver",
    "StateBatch",
    "StoreError",
    "UnknownNameError",
    "__version__",
    "evaluate",
    "list_experts",
    "list_scenarios",
    "list_solvers",
    "load_solver",
    "make_expert",
    "make_scenario",
    "make_solver",
    "rng_for",
]
