"""Experts: exact or best-known solvers that see the full state."""

from gainnet.experts import water_filling  # noqa: F401
