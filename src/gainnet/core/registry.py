"""Name -> class registries with errors that list the known names and parameters."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from gainnet.errors import GainnetError, UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping from a public name to a class, filled by the ``register`` decorator."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, type[T]] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        def decorator(cls: type[T]) -> type[T]:
            if name in self._entries:
                raise GainnetError(f"{self.kind} {name!r} is registered twice")
            cls.name = name  # type: ignore[attr-defined]
            self._entries[name] = cls
            return cls

        return decorator

    def get(self, name: str) -> type[T]:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, list(self._entries)) from None

    def names(self) -> list[str]:
        return sorted(self._entries)


def build_params(params_cls: type, values: Mapping[str, Any], owner: str) -> Any:
    """Instantiate the dataclass ``params_cls`` from ``values``; unknown keys are listed.

    ``owner`` names the thing being configured (e.g. ``"scenario 'power-allocation'"``) so the
    error says where the key was wrong.
    """
    known = [f.name for f in dataclasses.fields(params_cls)]
    for key in values:
        if key not in known:
            raise UnknownNameError(f"parameter of {owner}", key, known)
    return params_cls(**values)


def params_to_dict(params: Any) -> dict[str, Any]:
    """A JSON-friendly dict of a params dataclass (tuples become lists)."""

    def convert(value: Any) -> Any:
        if isinstance(value, tuple):
            return [convert(v) for v in value]
        return value

    return {f.name: convert(getattr(params, f.name)) for f in dataclasses.fields(params)}
