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


class Solver(ABC):
    """A learned or baseline decision maker for one scenario.

    Subclasses set ``Config`` (a dataclass of hyper-parameters whose fields document themselves)
    and implement :meth:`fit`, :meth:`decide`, and, if they have weights, :meth:`weights` and
    :meth:`load_weights`.
    """

    name: ClassVar[str]
    Config: ClassVar[type]
    #: short description for ``gainnet list``
    summary: ClassVar[str] = ""
    #: whether ``fit`` uses expert labels (imitation) or only the utility
    uses_expert: ClassVar[bool] = False

    @classmethod
    def supports(cls, scenario: Scenario) -> bool:
        """Whether this solver can act on ``scenario`` (every one, unless a solver says not)."""
        return True

    def __init__(self, scenario: Scenario, seed: int = 0, **params: Any) -> None:
        if int(seed) < 0:
            raise GainnetError(f"seed must be >= 0, got {seed}")
        self.config = build_params(self.Config, params, f"solver {self.name!r}")
        if not self.supports(scenario):
            raise GainnetError(f"solver {self.name!r} cannot act on scenario {scenario.name!r}")
        self.scenario = scenario
        self.seed = int(seed)
        self.fitted = False

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
        """Write ``solver.json`` and ``weights.safetensors`` into the directory ``path``."""
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        meta, weights = self.to_checkpoint()
        (out / "weights.safetensors").write_bytes(weights)
        (out / "solver.json").write_text(json.dumps(meta, indent=2) + "\n")
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
