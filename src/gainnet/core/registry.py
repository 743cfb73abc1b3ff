"""Name -> class registries, filled lazily, with errors that list the known names.

Like Gymnasium's registration, listing names never imports a plugin: each registry knows the
module of every built-in entry and imports it only when the entry is first asked for. Plugins
import this module (downward) and register themselves with the ``register`` decorator; nothing
here imports a plugin at import time.

>>> SOLVERS.names()            # no torch imported
>>> SOLVERS.get("gdm")         # imports gainnet.solvers.gdm, which registers the class
>>> load_builtins()            # imports every built-in plugin (``gainnet list`` needs them)
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from gainnet.errors import GainnetError, InvalidConfigError, UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping from a public name to a class.

    Parameters
    ----------
    kind : str
        What the entries are (``"scenario"``), for error messages.
    builtins : mapping of str to str
        Built-in entries: name -> the module that registers it (imported on first use).
    """

    def __init__(self, kind: str, builtins: Mapping[str, str] | None = None) -> None:
        self.kind = kind
        self._modules: dict[str, str] = dict(builtins or {})
        self._entries: dict[str, type[T]] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        """Class decorator: ``@SOLVERS.register("my-solver")`` (sets ``cls.name``)."""

        def decorator(cls: type[T]) -> type[T]:
            if name in self._entries:
                raise GainnetError(f"{self.kind} {name!r} is registered twice")
            module = self._modules.get(name)
            if module is not None and module != cls.__module__:
                raise GainnetError(
                    f"{self.kind} {name!r} is a built-in of {module}; choose another name"
                )
            cls.name = name  # type: ignore[attr-defined]
            self._entries[name] = cls
            return cls

        return decorator

    def get(self, name: str) -> type[T]:
        """The class registered as ``name`` (importing its built-in module if needed)."""
        if not isinstance(name, str):
            raise UnknownNameError(self.kind, repr(name), self.names())
        if name not in self._entries and name in self._modules:
            importlib.import_module(self._modules[name])
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self.names()) from None

    def names(self) -> list[str]:
        """Every known name, sorted (built-ins whether imported or not)."""
        return sorted(set(self._entries) | set(self._modules))

    def load_all(self) -> None:
        """Import every built-in module of this registry."""
        for module in sorted(set(self._modules.values())):
            importlib.import_module(module)


SCENARIOS: Registry[Any] = Registry(
    "scenario",
    {
        "contract": "gainnet.scenarios.contract",
        "interference": "gainnet.scenarios.interference",
        "iscc-matching": "gainnet.scenarios.iscc_matching",
        "iscc-slot": "gainnet.scenarios.iscc_slot",
        "power-allocation": "gainnet.scenarios.power_allocation",
        "stackelberg-split": "gainnet.scenarios.stackelberg_split",
    },
)
EXPERTS: Registry[Any] = Registry(
    "expert",
    {
        "bayes-price": "gainnet.experts.stackelberg_bayes",
        "contract-optimum": "gainnet.experts.contract_optimum",
        "equilibrium": "gainnet.experts.stackelberg_equilibrium",
        "exhaustive": "gainnet.experts.exhaustive_power",
        "iscc-kkt": "gainnet.experts.iscc_kkt",
        "iscc-milp": "gainnet.experts.iscc_milp",
        "water-filling": "gainnet.experts.water_filling",
        "wmmse": "gainnet.experts.wmmse",
        "wmmse-restarts": "gainnet.experts.wmmse",
    },
)
SOLVERS: Registry[Any] = Registry(
    "solver",
    {
        "gdm": "gainnet.solvers.gdm",
        "gdm-reward": "gainnet.solvers.gdm_reward",
        "greedy": "gainnet.solvers.baselines",
        "max-power": "gainnet.solvers.baselines",
        "ppo": "gainnet.solvers.drl",
        "random": "gainnet.solvers.baselines",
        "sac": "gainnet.solvers.drl",
        "td3": "gainnet.solvers.drl",
        "uniform": "gainnet.solvers.baselines",
    },
)


def load_builtins() -> None:
    """Import every built-in scenario, expert and solver (registering them)."""
    for registry in (SCENARIOS, EXPERTS, SOLVERS):
        registry.load_all()


def build_params(params_cls: type, values: Mapping[str, Any], owner: str) -> Any:
    """Instantiate the settings dataclass ``params_cls`` from ``values``.

    Unknown keys raise :class:`UnknownNameError` listing the known ones; a value of the wrong
    type or range raises :class:`InvalidConfigError`. ``owner`` names the thing being
    configured (e.g. ``"scenario 'power-allocation'"``) and prefixes every message.
    """
    if not isinstance(values, Mapping):
        raise InvalidConfigError(
            f"{owner}: settings must be a table of key = value, got {values!r}"
        )
    known = [f.name for f in dataclasses.fields(params_cls)]
    for key in values:
        if key not in known:
            raise UnknownNameError(f"parameter of {owner}", str(key), known)
    try:
        return params_cls(**values)
    except InvalidConfigError as exc:
        raise InvalidConfigError(f"{owner}: {exc}", exc.field, exc.value) from None
    except UnknownNameError:
        raise
    except GainnetError as exc:  # a cross-field check of the dataclass
        raise InvalidConfigError(f"{owner}: {exc}") from None
    except TypeError as exc:  # a required field missing
        raise InvalidConfigError(f"{owner}: {exc}") from None


def params_to_dict(params: Any) -> dict[str, Any]:
    """A JSON-friendly dict of a params dataclass (tuples become lists)."""

    def convert(value: Any) -> Any:
        if isinstance(value, tuple):
            return [convert(v) for v in value]
        return value

    return {f.name: convert(getattr(params, f.name)) for f in dataclasses.fields(params)}
