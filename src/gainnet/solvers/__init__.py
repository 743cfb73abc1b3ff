"""Solvers. Importing this package registers the built-in ones."""

from gainnet.solvers import baselines, drl, gdm, gdm_reward  # noqa: F401
