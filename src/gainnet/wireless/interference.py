"""Rates on a K-user interference channel and the geometric drop of its links.

Conventions: ``gains[..., k, j] = |h_kj|^2`` is the linear power gain from transmitter ``j`` to
receiver ``k`` (so the diagonal holds the direct links); powers are ``[..., K]`` in watts.
"""

from __future__ import annotations

import numpy as np


def sinr(gains: np.ndarray, power_w: np.ndarray, noise_power_w: float) -> np.ndarray:
    """Signal to interference-plus-noise ratio of every receiver, ``[..., K]``.

    ``SINR_k = g_kk p_k / (N0 + sum_{j != k} g_kj p_j)`` with ``gains [..., K, K]``,
    ``power_w [..., K]`` (watts, >= 0) and ``noise_power_w`` N0 (watts, > 0).
    """
    power = np.maximum(power_w, 0.0)
    received = np.einsum("...kj,...j->...k", gains, power)
    signal = np.diagonal(gains, axis1=-2, axis2=-1) * power
    return signal / (noise_power_w + received - signal)


def sum_rate_ic_bps_per_hz(gains: np.ndarray, power_w: np.ndarray, noise_power_w: float):
    """``sum_k log2(1 + SINR_k)`` in bit/s/Hz, ``[...]`` (see :func:`sinr`)."""
    return np.log2(1.0 + sinr(gains, power_w, noise_power_w)).sum(axis=-1)


def geometric_gains(
    rng: np.random.Generator,
    n: int,
    num_users: int,
    area_side_m: float,
    pair_distance_min_m: float,
    pair_distance_max_m: float,
    pathloss_at_1m_db: float,
    pathloss_exponent: float,
    shadowing_db: float,
) -> np.ndarray:
    """Power gains ``[n, K, K]`` of ``K`` transmitter-receiver pairs dropped in a square.

    Transmitters are uniform in ``[0, area_side_m]^2``; each receiver lies at a distance
    ``U(pair_distance_min_m, pair_distance_max_m)`` from its transmitter in a uniform direction
    (it may fall outside the square). Every link has log-distance pathloss
    ``PL(d) = pathloss_at_1m_db + 10 * pathloss_exponent * log10(d / 1 m)`` (distances below
    1 m count as 1 m), independent log-normal shadowing of ``shadowing_db`` standard deviation
    and Rayleigh fading (``|h|^2 ~ Exp(1)``). The defaults of the ``geometric`` layout,
    15.3 dB and 3.76, are 3GPP TR 36.814's ``128.1 + 37.6 log10(d / 1 km)``.
    """
    shape = (int(n), int(num_users))
    tx = rng.uniform(0.0, area_side_m, (*shape, 2))
    distance = rng.uniform(pair_distance_min_m, pair_distance_max_m, shape)
    angle = rng.uniform(0.0, 2.0 * np.pi, shape)
    rx = tx + distance[..., None] * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    # d[i, k, j]: receiver k to transmitter j
    d = np.linalg.norm(rx[:, :, None, :] - tx[:, None, :, :], axis=-1)
    pathloss_db = pathloss_at_1m_db + 10.0 * pathloss_exponent * np.log10(np.maximum(d, 1.0))
    shadow_db = shadowing_db * rng.standard_normal(d.shape)
    fading = rng.exponential(1.0, d.shape)
    return 10.0 ** (-(pathloss_db + shadow_db) / 10.0) * fading
