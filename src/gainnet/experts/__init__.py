"""Experts: exact or best-known solvers that see the full state."""

from gainnet.experts import (
    contract_optimum,  # noqa: F401
    exhaustive_power,  # noqa: F401
    stackelberg_bayes,  # noqa: F401
    stackelberg_equilibrium,  # noqa: F401
    water_filling,  # noqa: F401
    wmmse,  # noqa: F401
)
