"""Checks of array arguments: real numeric dtype, exact shape, finite, physical sign.

Every state field, decision and action passes through :func:`real_array` before any maths, so
strings, object arrays, ragged lists, wrong shapes and NaN get one clear
:class:`~gainnet.errors.GainnetError` instead of a numpy traceback or a silent wrong result.
The checks are vectorised (O(n), no Python loop per instance).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gainnet.errors import GainnetError, InvalidStateError

#: numpy dtype kinds accepted as real numbers (bool, signed, unsigned, float)
REAL_KINDS = "biuf"


def real_array(
    value: Any,
    name: str,
    shape: tuple[int | None, ...] | None = None,
    error: type[GainnetError] = InvalidStateError,
    finite: bool = True,
    low: float | None = None,
    positive: bool = False,
) -> np.ndarray:
    """``value`` as a float64 array, or ``error`` saying what is wrong with it.

    Parameters
    ----------
    value : array-like
        What the caller passed.
    name : str
        How the error names it (``"gains"``, ``"decision"``).
    shape : tuple, optional
        The required shape; ``None`` entries match any length (``(None, 10)`` is ``[n, 10]``);
        a leading ``None`` (the batch axis) must not be empty.
    error : GainnetError subclass
        Raised on failure (``InvalidStateError`` or ``InvalidDecisionError``).
    finite : bool
        Refuse NaN and infinities.
    low : float, optional
        Refuse entries below ``low`` (``0`` for power gains).
    positive : bool
        Refuse entries ``<= 0``.
    """
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise error(f"{name} is not an array of numbers: {exc}") from None
    if array.dtype.kind not in REAL_KINDS:
        raise error(f"{name} must hold real numbers, got dtype {array.dtype}")
    if shape is not None:
        wanted = tuple(shape)
        if array.ndim != len(wanted) or any(
            w is not None and w != s for w, s in zip(wanted, array.shape, strict=True)
        ):
            described = ", ".join("n" if w is None else str(w) for w in wanted)
            raise error(f"{name} must have shape [{described}], got {list(array.shape)}")
        if wanted and wanted[0] is None and array.shape[0] == 0:
            raise error(f"{name} holds no instances (shape {list(array.shape)})")
    array = array.astype(float, copy=False)
    if finite and not np.all(np.isfinite(array)):
        raise error(f"{name} contains NaN or infinite values")
    if low is not None and np.any(array < low):
        raise error(f"{name} must be >= {low:g}")
    if positive and np.any(array <= 0):
        raise error(f"{name} must be > 0")
    return array


def batch_array(
    value: Any,
    name: str,
    rows: int,
    width: int | tuple[int, ...],
    error: type[GainnetError],
    finite: bool = True,
) -> np.ndarray:
    """``value`` as float64 ``[rows, width]`` (one row per instance of a state of ``rows``);
    a tuple ``width`` is the shape of one row (``(K, 4)`` asks for ``[rows, K, 4]``)."""
    trailing = tuple(width) if isinstance(width, tuple) else (width,)
    array = real_array(value, name, (None, *trailing), error, finite=finite)
    if len(array) != rows:
        raise error(f"{name} has {len(array)} rows for a state of {rows} instances")
    return array
