"""What a base station knows about a user, as a generator's condition, and the cell's regions.

A condition is one row per channel, ``[n, CONDITION_DIM]`` float32::

    x_m, y_m, z_m           the user's position relative to the base station (m)
    log10_distance_m        log10 of the 3-D distance (path loss is linear in it)
    los, indoor             0 / 1 flags (the base station knows LoS from its own measurements)
    scenario one-hot        one column per scenario the generator was trained on

Generators standardise the columns themselves (mean and spread of their training rows).

Under-observed areas are modelled by azimuth: a drop's users lie in a 120-degree sector
(:mod:`gainnet.channels.config`), ``azimuth_deg`` in [0, 120); :func:`in_region` keeps the users
whose azimuth lies in a range, so a generator trained on ``[0, 90)`` can be asked for channels
in ``[90, 120)``, a quarter of the cell it never saw.
"""

from __future__ import annotations

import numpy as np

from gainnet.errors import InvalidStateError

#: condition columns besides the scenario one-hot
BASE_COLUMNS = ("x_m", "y_m", "z_m", "log10_distance_m", "los", "indoor")


def condition_dim(num_scenarios: int) -> int:
    return len(BASE_COLUMNS) + num_scenarios


def conditions_from_metadata(
    metadata: dict[str, np.ndarray], scenario: int, num_scenarios: int
) -> np.ndarray:
    """``[n, condition_dim(num_scenarios)]`` float32 from a single-link dataset's metadata
    (``position_m [n, 3]``, ``los [n]``, ``indoor [n]``); every row gets scenario ``scenario``
    (0-based) of ``num_scenarios``."""
    position = np.asarray(metadata["position_m"], dtype=np.float64)
    if position.ndim != 2 or position.shape[1] != 3:
        raise InvalidStateError(
            f"conditions need single-link metadata, position_m [n, 3], got {position.shape}"
        )
    if not 0 <= scenario < num_scenarios:
        raise InvalidStateError(f"scenario must be in 0..{num_scenarios - 1}, got {scenario}")
    n = len(position)
    flags = [np.asarray(metadata[k], dtype=np.float64).reshape(n) for k in ("los", "indoor")]
    distance = np.maximum(np.linalg.norm(position, axis=1), 1.0)
    one_hot = np.zeros((n, num_scenarios))
    one_hot[:, scenario] = 1.0
    rows = np.column_stack([position, np.log10(distance), *flags, one_hot])
    if not np.isfinite(rows).all():
        raise InvalidStateError("the dataset's positions or flags hold NaN or infinite values")
    return rows.astype(np.float32)


def check_conditions(conditions: np.ndarray, dim: int) -> np.ndarray:
    """``conditions`` as float32 ``[n, dim]``, or one clear :class:`InvalidStateError`."""
    c = np.asarray(conditions)
    if c.ndim != 2 or c.shape[1] != dim or len(c) == 0 or not np.issubdtype(c.dtype, np.number):
        raise InvalidStateError(
            f"conditions must be a numeric [n >= 1, {dim}] array, got {c.shape}"
        )
    if not np.isfinite(c).all():
        raise InvalidStateError("the conditions hold NaN or infinite values")
    return c.astype(np.float32)


def azimuth_deg(position_m: np.ndarray) -> np.ndarray:
    """``[n]``: each user's azimuth seen from its base station, degrees in (-180, 180]."""
    p = np.asarray(position_m, dtype=np.float64)
    return np.degrees(np.arctan2(p[:, 1], p[:, 0]))


def in_region(position_m: np.ndarray, azimuth_range_deg: tuple[float, float]) -> np.ndarray:
    """``[n]`` bool: the users whose azimuth lies in ``[low, high)`` degrees."""
    low, high = azimuth_range_deg
    az = azimuth_deg(position_m)
    return (az >= low) & (az < high)
