"""Exceptions raised by gainnet. All derive from :class:`GainnetError` (a ``ValueError``).

The command line turns every one of them into one line on stderr and exit code 2.
"""

from __future__ import annotations

from typing import Any


class GainnetError(ValueError):
    """Base class of every error gainnet raises on bad input."""


class UnknownNameError(GainnetError):
    """An unknown scenario, solver, expert, preset or parameter name."""

    def __init__(self, kind: str, name: str, known: list[str] | tuple[str, ...]) -> None:
        self.kind, self.name, self.known = kind, name, sorted(known)
        super().__init__(f"unknown {kind} {name!r}; known: {', '.join(self.known) or '(none)'}")


class InvalidConfigError(GainnetError):
    """A setting of the wrong type, out of range, non-finite or too large for this machine.

    ``field`` and ``value`` name the setting and what it was given (``None`` where the error
    concerns several settings at once).
    """

    def __init__(self, message: str, field: str | None = None, value: Any = None) -> None:
        self.field, self.value = field, value
        super().__init__(message)


class InvalidStateError(GainnetError):
    """A state batch with the wrong shape, NaN/inf or negative physical values."""


class InvalidDecisionError(GainnetError):
    """A decision batch with the wrong shape or non-finite values."""


class CheckpointError(GainnetError):
    """A saved solver that is missing, corrupt or does not match its description."""


class StoreError(GainnetError):
    """A retraining-cycle store (SQLite database and model folder) that cannot be used."""
