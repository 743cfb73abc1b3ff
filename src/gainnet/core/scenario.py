"""The :class:`Scenario` interface: a batched family of problem instances with a utility.

A scenario is pure: randomness comes only through an explicit ``numpy.random.Generator``.
Every method works on a whole batch of ``n`` instances without a Python loop per instance.
It owns feasibility: :meth:`Scenario.decode` maps any real action ``[n, action_dim]`` to a
feasible decision, and :meth:`Scenario.encode` maps a decision back so imitation targets are exact.

The public methods validate their arguments in one place and then call a hook a subclass
implements: ``sample -> _sample``, ``observe -> _observe``, ``utility -> _utility``,
``is_feasible -> _is_feasible``, ``decode -> _decode``, ``encode -> _encode``. A hook receives
a state that passed :meth:`Scenario.validate_state` and arrays of the right shape as float64
(decisions finite, except in ``_is_feasible``, which gets non-finite entries as 0 and whose
rows with them are reported infeasible); a non-finite utility is an error, never a result.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from gainnet.core.arrays import batch_array
from gainnet.core.registry import params_to_dict
from gainnet.core.validation import check_allocation, check_int_arg
from gainnet.errors import InvalidConfigError, InvalidDecisionError

#: the most instances one ``sample`` call draws (memory is bounded separately)
MAX_SAMPLE_INSTANCES = 10**8

if TYPE_CHECKING:
    from gainnet.core.expert import Expert


@dataclasses.dataclass(frozen=True)
class StateBatch:
    """A batch of ``n`` problem instances: every field is an array whose first axis is ``n``."""

    def __len__(self) -> int:
        return len(getattr(self, dataclasses.fields(self)[0].name))

    def take(self, index: Any) -> StateBatch:
        """The sub-batch selected by ``index`` (a slice, integer array or boolean mask)."""
        if isinstance(index, int | np.integer):  # keep the batch axis
            index = slice(int(index), int(index) + 1 or None)
        return type(self)(
            **{f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self)}
        )

    @classmethod
    def concat(cls, batches: list[StateBatch]) -> StateBatch:
        """One batch made of ``batches`` in order."""
        return cls(
            **{
                f.name: np.concatenate([getattr(b, f.name) for b in batches], axis=0)
                for f in dataclasses.fields(cls)
            }
        )


class Scenario(ABC):
    """A family of problem instances with a utility to maximise.

    Subclasses set ``Params`` (a dataclass whose fields are the scenario's parameters, with
    units in their names), ``presets`` (name -> parameter overrides), ``version`` (bumped when
    the maths changes) and implement the abstract methods.
    """

    name: ClassVar[str]
    version: ClassVar[int] = 0
    Params: ClassVar[type]
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    #: what the utility measures, with its unit, for tables and plots
    utility_label: ClassVar[str] = "utility"
    #: whether a decision maker may evaluate the utility of a candidate decision (False where
    #: the utility depends on what it cannot observe); best-of-N sampling needs it
    utility_observable: ClassVar[bool] = True

    def __init__(self, params: Any) -> None:
        self.params = params

    # ----------------------------------------------------------------- description
    @property
    @abstractmethod
    def observation_dim(self) -> int:
        """Length of one flattened observation vector."""

    @property
    @abstractmethod
    def action_dim(self) -> int:
        """Length of one action vector (what :meth:`decode` takes)."""

    @property
    def decision_dim(self) -> int:
        """Length of one flattened decision (what :meth:`decode` returns); by default the
        action's length."""
        return self.action_dim

    @property
    def decision_shape(self) -> tuple[int, ...]:
        """The shape of one instance's decision (``decode`` returns ``[n, *decision_shape]``);
        by default ``(decision_dim,)``. Scenarios with structured decisions (a ``[K, 4]``
        table of resources per user) override it; its product is ``decision_dim``, and the
        differentiable ``decode_torch`` returns decisions flattened to ``[n, decision_dim]``."""
        return (self.decision_dim,)

    def observation_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)``, each ``[observation_dim]`` float32: the range of :meth:`observe`.

        The default is the whole finite float32 range; scenarios that know better override it.
        """
        finfo = np.finfo(np.float32)
        shape = (self.observation_dim,)
        return np.full(shape, finfo.min, np.float32), np.full(shape, finfo.max, np.float32)

    def config(self) -> dict[str, Any]:
        """``{"name", "version", "params"}``: enough to rebuild this scenario (JSON-friendly)."""
        return {"name": self.name, "version": self.version, "params": params_to_dict(self.params)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({params_to_dict(self.params)})"

    # ----------------------------------------------------------------- batched maths
    def sample(self, n: int, rng: np.random.Generator) -> StateBatch:
        """Draw ``n`` independent instances from ``rng`` (e.g. ``gainnet.rng_for(0, "eval")``)."""
        n = check_int_arg(n, "n (instances to sample)", 1, MAX_SAMPLE_INSTANCES)
        if not isinstance(rng, np.random.Generator):
            raise InvalidConfigError(
                "rng must be a numpy.random.Generator, e.g. gainnet.rng_for(seed, 'train'), "
                f"got {type(rng).__name__}",
                "rng",
                rng,
            )
        check_allocation(f"{n} {self.name} instances", n * self.state_bytes_per_instance, 1)
        return self._sample(n, rng)

    @property
    def state_bytes_per_instance(self) -> int:
        """Bytes one sampled instance takes (measured once on a throw-away draw)."""
        cached = self.__dict__.get("_state_bytes")
        if cached is None:
            one = self._sample(1, np.random.default_rng(0))
            cached = sum(np.asarray(getattr(one, f.name)).nbytes for f in dataclasses.fields(one))
            self.__dict__["_state_bytes"] = cached
        return cached

    @abstractmethod
    def validate_state(self, state: StateBatch) -> None:
        """Raise :class:`~gainnet.errors.InvalidStateError` on wrong shapes, NaN or bad values
        (use :func:`gainnet.core.arrays.real_array` for every field)."""

    def observe(self, state: StateBatch) -> np.ndarray:
        """What a solver sees: ``[n, observation_dim]`` float32."""
        self.validate_state(state)
        return self._observe(state)

    def utility(self, state: StateBatch, decision: np.ndarray) -> np.ndarray:
        """The objective to maximise for each instance: ``[n]`` float64, always finite."""
        self.validate_state(state)
        decision = self.check_decision(state, decision)
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below
            value = np.asarray(self._utility(state, decision))
        finite = np.isfinite(value)
        if not np.all(finite):
            raise InvalidDecisionError(
                f"the {self.utility_label} of {int((~finite).sum())} of {value.size} decisions "
                "is not finite (are the decision's values physically sensible?)"
            )
        return value

    def is_feasible(self, state: StateBatch, decision: np.ndarray) -> np.ndarray:
        """Whether each decision satisfies every constraint: ``[n]`` bool (non-finite: False)."""
        self.validate_state(state)
        decision = self.check_decision(state, decision, finite=False)
        finite = np.isfinite(decision)
        rows_finite = finite.reshape(len(decision), -1).all(axis=1)
        safe = np.where(finite, decision, 0.0)
        with np.errstate(over="ignore", invalid="ignore"):  # huge values are simply infeasible
            feasible = np.asarray(self._is_feasible(state, safe), dtype=bool)
        return rows_finite & feasible

    def decode(self, state: StateBatch, action: np.ndarray) -> np.ndarray:
        """Map any real action ``[n, action_dim]`` to a feasible decision (NaN and infinite
        entries are allowed: every scenario maps them to a feasible decision too)."""
        self.validate_state(state)
        rows = len(state)
        action = batch_array(action, "action", rows, self.action_dim, InvalidDecisionError, False)
        return self._decode(state, action)

    def encode(self, state: StateBatch, decision: np.ndarray) -> np.ndarray:
        """An action whose :meth:`decode` is ``decision`` (exactly, for feasible decisions)."""
        self.validate_state(state)
        return self._encode(state, self.check_decision(state, decision))

    def check_decision(
        self, state: StateBatch, decision: np.ndarray, finite: bool = True
    ) -> np.ndarray:
        """``decision`` as float64 ``[n, *decision_shape]``, or ``InvalidDecisionError``."""
        rows, shape = len(state), tuple(self.decision_shape)
        return batch_array(decision, "decision", rows, shape, InvalidDecisionError, finite)

    # ----------------------------------------------------------------- hooks
    @abstractmethod
    def _sample(self, n: int, rng: np.random.Generator) -> StateBatch:
        """Draw ``n`` (a checked int) instances."""

    @abstractmethod
    def _observe(self, state: StateBatch) -> np.ndarray:
        """``[n, observation_dim]`` float32 of a valid state."""

    @abstractmethod
    def _utility(self, state: StateBatch, decision: np.ndarray) -> np.ndarray:
        """``[n]`` for a valid state and a finite ``[n, *decision_shape]`` decision."""

    @abstractmethod
    def _is_feasible(self, state: StateBatch, decision: np.ndarray) -> np.ndarray:
        """``[n]`` bool for a valid state and a ``[n, *decision_shape]`` decision."""

    @abstractmethod
    def _decode(self, state: StateBatch, action: np.ndarray) -> np.ndarray:
        """A feasible decision for every row of ``action`` ``[n, action_dim]`` (may hold NaN)."""

    @abstractmethod
    def _encode(self, state: StateBatch, decision: np.ndarray) -> np.ndarray:
        """The action ``[n, action_dim]`` that decodes to a finite ``decision``."""

    @abstractmethod
    def default_expert(self) -> Expert:
        """The reference solver of every table (exact where one exists)."""

    # optional: a local improvement solvers may apply to their own decisions
    def refine(self, state: StateBatch, decision: np.ndarray, iterations: int) -> np.ndarray:
        """``iterations`` steps of a local search from ``decision`` that never lower the
        utility and use only what the decision maker observes; scenarios without one raise."""
        from gainnet.errors import GainnetError

        raise GainnetError(f"scenario {self.name!r} has no local refinement (refine_iterations)")

    # optional: differentiable maths for solvers that train through the utility
    def decode_torch(self, observation: Any, action: Any) -> Any:
        raise NotImplementedError(f"scenario {self.name!r} has no differentiable decode")

    def utility_torch(self, observation: Any, decision: Any) -> Any:
        raise NotImplementedError(f"scenario {self.name!r} has no differentiable utility")
