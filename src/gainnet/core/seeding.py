"""One integer seed, named random streams.

``rng_for(seed, "train")`` and ``rng_for(seed, "eval")`` are independent generators, so
evaluation never redraws the training instances, and no code touches a global RNG.
"""

from __future__ import annotations

import numbers
import zlib

import numpy as np

from gainnet.errors import InvalidConfigError

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
    return np.random.default_rng(np.random.SeedSequence([check_seed(seed), _stream_id(stream)]))


#: seeds are integers in [0, MAX_SEED]
MAX_SEED = 2**63 - 1


def check_seed(seed: object, name: str = "seed") -> int:
    """``seed`` as an ``int``, or :class:`~gainnet.errors.InvalidConfigError` if it is not an
    integer in ``[0, 2**63 - 1]`` (bools, floats and strings are refused)."""
    if isinstance(seed, bool | np.bool_) or not isinstance(seed, numbers.Integral):
        raise InvalidConfigError(
            f"{name} must be an integer in [0, 2**63 - 1], got {seed!r} ({type(seed).__name__})",
            name,
            seed,
        )
    if not 0 <= int(seed) <= MAX_SEED:
        raise InvalidConfigError(f"{name} must be in [0, 2**63 - 1], got {seed}", name, seed)
    return int(seed)


def _stream_id(stream: object) -> int:
    if not isinstance(stream, str):
        raise InvalidConfigError(
            f"a random stream is named by a string such as 'train' or 'eval', got {stream!r}",
            "stream",
            stream,
        )
    return zlib.crc32(stream.encode())


def int_seed_for(seed: int, stream: str) -> int:
    """A 63-bit integer derived from ``(seed, stream)``, for libraries that want an int seed."""
    return int(rng_for(seed, stream).integers(0, 2**63 - 1))
