"""The :class:`Solver` interface, the shared :class:`Budget` and training callbacks.

A solver sees only observations. ``fit(budget, expert=None, callback=None)`` trains it within
the budget; ``decide(state)`` returns a batch of feasible decisions.
"""

from __future__ import annotations

import dataclasses
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from gainnet.core.registry import build_params, params_to_dict
from gainnet.core.seeding import check_seed
from gainnet.core.validation import Validated, setting
from gainnet.errors import GainnetError, InvalidConfigError

if TYPE_CHECKING:
    from gainnet.core.expert import Expert
    from gainnet.core.scenario import Scenario, StateBatch

CHECKPOINT_FORMAT = "gainnet-solver"
CHECKPOINT_VERSION = 1


#: the most training steps, seconds and expert labels one Budget may ask for
MAX_BUDGET_STEPS = 10**9
MAX_BUDGET_SECONDS = 30 * 86_400.0
MAX_BUDGET_LABELS = 10**8


@dataclasses.dataclass(frozen=True)
class Budget(Validated):
    """How much a solver may spend in :meth:`Solver.fit`; training stops at the first limit hit.

    Attributes
    ----------
    steps : int | None
        Training steps. For gradient solvers (``gdm``, ``gdm-reward``) one step is one optimiser
        update; for the stable-baselines3 solvers it is one environment step (one decision).
    seconds : float | None
        Wall-clock seconds of training (data labelling included).
    expert_labels : int | None
        Most expert-labelled instances the solver may use (imitation solvers only).
    """

    steps: int | None = setting(None, low=1, high=MAX_BUDGET_STEPS)
    seconds: float | None = setting(None, gt=0, high=MAX_BUDGET_SECONDS)
    expert_labels: int | None = setting(None, low=1, high=MAX_BUDGET_LABELS)

    def check(self) -> None:
        if self.steps is None and self.seconds is None:
            raise InvalidConfigError("a Budget needs steps=... or seconds=... (or both)")

    def progress(self, step: int, elapsed_s: float) -> float:
        """Fraction of the budget used, in [0, 1] (the larger of steps and seconds)."""
        fractions = [0.0]
        if self.steps is not None:
            fractions.append(step / self.steps)
        if self.seconds is not None:
            fractions.append(elapsed_s / self.seconds)
        return min(1.0, max(fractions))

    def done(self, step: int, elapsed_s: float) -> bool:
        return self.progress(step, elapsed_s) >= 1.0


@dataclasses.dataclass
class FitInfo:
    """What a callback receives every few training steps."""

    step: int
    seconds: float
    progress: float
    metrics: dict[str, float]


Callback = Callable[[FitInfo], bool | None]
"""Called during :meth:`Solver.fit`; returning ``False`` stops training."""


@dataclasses.dataclass
class FitReport:
    """What :meth:`Solver.fit` did."""

    steps: int
    seconds: float
    expert_labels: int
    metrics: dict[str, float]


#: what a solver may need from a scenario, and how :func:`scenario_capabilities` tells
CAPABILITIES = {
    "decode_torch": "a differentiable decode (Scenario.decode_torch)",
    "utility_torch": "a differentiable utility (Scenario.utility_torch)",
    "refine": "a local refinement (Scenario.refine)",
    "observable_utility": "a utility the decision maker can evaluate (utility_observable)",
    "expert": "an expert to learn from (Scenario.default_expert)",
}


def _overrides(scenario: Any, method: str) -> bool:
    """Whether ``scenario`` implements ``method`` itself (not the base class's placeholder)."""
    from gainnet.core.scenario import Scenario

    bound = getattr(scenario, method, None)
    function = getattr(bound, "__func__", None)
    return function is not None and function is not getattr(Scenario, method)


def scenario_capabilities(scenario: Any) -> frozenset[str]:
    """The :data:`CAPABILITIES` ``scenario`` provides (methods it overrides, flags it sets)."""
    found = {
        name for name in ("decode_torch", "utility_torch", "refine") if _overrides(scenario, name)
    }
    if getattr(scenario, "utility_observable", True):
        found.add("observable_utility")
    if callable(getattr(scenario, "default_expert", None)):
        found.add("expert")
    return frozenset(found)


class Solver(ABC):
    """A learned or baseline decision maker for one scenario.

    Subclasses set ``Config`` (a :class:`~gainnet.core.validation.Validated` dataclass of
    hyper-parameters whose fields document themselves), ``requires`` (the
    :data:`CAPABILITIES` they need from every scenario; :meth:`needs` adds the ones a setting
    implies) and implement :meth:`fit`, :meth:`decide`, and, if they have weights,
    :meth:`weights` and :meth:`load_weights`. ``make_solver`` refuses a scenario that lacks a
    capability, with a message saying which, before any work.
    """

    name: ClassVar[str]
    Config: ClassVar[type]
    #: short description for ``gainnet list``
    summary: ClassVar[str] = ""
    #: whether ``fit`` uses expert labels (imitation; such solvers have ``fit_labelled``) or
    #: only the utility
    uses_expert: ClassVar[bool] = False
    #: capabilities every scenario must provide to this solver (keys of CAPABILITIES)
    requires: ClassVar[frozenset[str]] = frozenset()
    #: hyper-parameters with which a tiny budget (tens of steps, a few hundred labels) runs
    #: every code path past every warm-up: the contract tests and quick runs use them
    smoke_settings: ClassVar[dict[str, Any]] = {}

    @classmethod
    def supports(cls, scenario: Scenario) -> bool:
        """Whether this solver can act on ``scenario`` with its default settings."""
        return cls.requires <= scenario_capabilities(scenario)

    def needs(self) -> dict[str, str]:
        """Capability -> why, for this solver's settings (``requires`` plus what settings
        such as best-of-N or refinement imply)."""
        return {name: "always" for name in self.requires}

    def warmup_steps(self) -> int:
        """Training steps before every code path of :meth:`fit` runs (a critic-only warm-up,
        an RL learner's ``learning_starts``...): a budget must exceed it to train everything."""
        return 0

    def __init__(self, scenario: Scenario, seed: int = 0, **params: Any) -> None:
        self.seed = check_seed(seed)
        self.config = build_params(self.Config, params, f"solver {self.name!r}")
        self._check_capabilities(scenario)
        self.scenario = scenario
        self.fitted = False

    def _check_capabilities(self, scenario: Scenario) -> None:
        if not self.supports(scenario) and not (self.requires - scenario_capabilities(scenario)):
            raise GainnetError(f"solver {self.name!r} cannot act on scenario {scenario.name!r}")
        missing = {
            k: why for k, why in self.needs().items() if k not in scenario_capabilities(scenario)
        }
        if missing:
            parts = [
                CAPABILITIES[k] + ("" if why == "always" else f" (for {why})")
                for k, why in sorted(missing.items())
            ]
            raise GainnetError(
                f"solver {self.name!r} needs {', '.join(parts)}, which scenario "
                f"{scenario.name!r} does not provide"
            )

    # ----------------------------------------------------------------- interface
    @abstractmethod
    def fit(
        self, budget: Budget, expert: Expert | None = None, callback: Callback | None = None
    ) -> FitReport:
        """Train within ``budget``."""

    @abstractmethod
    def decide(self, state: StateBatch) -> np.ndarray:
        """A feasible decision for every instance of ``state``."""

    def weights(self) -> dict[str, Any]:
        """Named tensors to save (``torch.Tensor`` values); empty for weightless solvers."""
        return {}

    def load_weights(self, tensors: dict[str, Any]) -> None:
        """Inverse of :meth:`weights`."""
        if tensors:
            raise GainnetError(f"solver {self.name!r} has no weights, got {sorted(tensors)}")
        self.fitted = True

    # ----------------------------------------------------------------- persistence
    def to_checkpoint(self) -> tuple[dict, bytes]:
        """``(meta, weights)``: the ``solver.json`` dict and the safetensors bytes."""
        from safetensors.torch import save

        from gainnet import __version__

        tensors = {k: v.detach().contiguous().cpu() for k, v in self.weights().items()}
        meta = {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_VERSION,
            "gainnet_version": __version__,
            "solver": self.name,
            "seed": self.seed,
            "config": params_to_dict(self.config),
            "scenario": self.scenario.config(),
            "fitted": self.fitted,
            "tensors": sorted(tensors),
        }
        return meta, save(tensors)

    def save(self, path: str | Path) -> Path:
        """Write ``solver.json``, ``weights.safetensors`` and their ``SHA256SUMS`` into the
        directory ``path`` (``gainnet.load_solver`` verifies the sums)."""
        from gainnet.core.integrity import check_writable, write_manifest

        out = check_writable(path, "solver directory")
        meta, weights = self.to_checkpoint()
        (out / "weights.safetensors").write_bytes(weights)
        (out / "solver.json").write_text(json.dumps(meta, indent=2) + "\n")
        write_manifest(out, ["solver.json", "weights.safetensors"])
        return out

    def set_scenario(self, scenario: Scenario) -> None:
        """Keep the weights; decide and train in ``scenario`` from now on (e.g. after drift).

        The new scenario must have the same observation and action dimensions.
        """
        if scenario.name != self.scenario.name or (
            scenario.observation_dim,
            scenario.action_dim,
        ) != (self.scenario.observation_dim, self.scenario.action_dim):
            raise GainnetError(
                f"set_scenario needs a {self.scenario.name!r} scenario of the same dimensions"
            )
        self._check_capabilities(scenario)
        self.scenario = scenario

    # ----------------------------------------------------------------- helpers
    def _check_state(self, state: StateBatch) -> None:
        self.scenario.validate_state(state)


class TrainingClock:
    """Counts steps and seconds against a :class:`Budget` and calls the callback.

    Time spent inside the callback (progress bars, evaluations for learning curves) is not
    charged to the training budget.
    """

    def __init__(self, budget: Budget, callback: Callback | None, every: int = 50) -> None:
        self.budget, self.callback, self.every = budget, callback, every
        self.start = time.perf_counter()
        self.callback_s = 0.0
        self.step = 0
        self.stopped = False

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.start - self.callback_s

    @property
    def progress(self) -> float:
        return self.budget.progress(self.step, self.elapsed_s)

    def running(self) -> bool:
        return not self.stopped and not self.budget.done(self.step, self.elapsed_s)

    def tick(self, metrics: dict[str, float] | None = None, force: bool = False) -> None:
        """Count one step; every ``every`` steps (or when ``force``) report to the callback."""
        self.step += 1
        if self.callback is not None and (force or self.step % self.every == 0):
            info = FitInfo(self.step, self.elapsed_s, self.progress, dict(metrics or {}))
            entered = time.perf_counter()
            if self.callback(info) is False:
                self.stopped = True
            self.callback_s += time.perf_counter() - entered
