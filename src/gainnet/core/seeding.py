"""One integer seed, named random streams.

``rng_for(seed, "train")`` and ``rng_for(seed, "eval")`` are independent generators, so
evaluation never redraws the training instances, and no code touches a global RNG.
"""

from __future__ import annotations

import zlib

import numpy as np

STREAMS = ("train", "eval", "solver", "drift", "explore", "init")


def rng_for(seed: int, stream: str) -> np.random.Generator:
    """A ``numpy.random.Generator`` for the named stream of ``seed``.

    Parameters
    ----------
    seed : int
        The experiment's integer seed (>= 0).
    stream : str
        The stream's name, e.g. ``"train"``, ``"eval"``, ``"solver"``; any string works, the
        ones in :data:`STREAMS` are the conventional ones.
    """
    if int(seed) < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(stream.encode())]))


def int_seed_for(seed: int, stream: str) -> int:
    """A 63-bit integer derived from ``(seed, stream)``, for libraries that want an int seed."""
    return int(rng_for(seed, stream).integers(0, 2**63 - 1))
