"""Exceptions raised by gainnet. All derive from :class:`GainnetError` (a ``ValueError``)."""

from __future__ import annotations


class GainnetError(ValueError):
    """Base class of every error gainnet raises on bad input."""


class UnknownNameError(GainnetError):
    """An unknown scenario, solver, expert, preset or parameter name."""

    def __init__(self, kind: str, name: str, known: list[str] | tuple[str, ...]) -> None:
        self.kind, self.name, self.known = kind, name, sorted(known)
        super().__init__(f"unknown {kind} {name!r}; known: {', '.join(self.known) or '(none)'}")


class InvalidStateError(GainnetError):
    """A state batch with the wrong shape, NaN/inf or negative physical values."""


class InvalidDecisionError(GainnetError):
    """A decision batch with the wrong shape or non-finite values."""


class CheckpointError(GainnetError):
    """A saved solver that is missing, corrupt or does not match its description."""
