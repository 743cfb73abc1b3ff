"""Shannon rates over parallel channels."""

from __future__ import annotations

import numpy as np


def sum_rate_bps_per_hz(
    gains: np.ndarray, power_w: np.ndarray, noise_power_w: float | np.ndarray
) -> np.ndarray:
    """Sum spectral efficiency of parallel channels, ``sum_i log2(1 + g_i p_i / N0)``.

    Parameters
    ----------
    gains : ndarray, [n, M]
        Linear power gains g_i (dimensionless, >= 0).
    power_w : ndarray, [n, M]
        Transmit power per channel, watts.
    noise_power_w : float or ndarray broadcastable to [n, M]
        Noise power N0, watts.

    Returns
    -------
    ndarray, [n]
        Sum rate in bit/s/Hz.
    """
    snr = gains * np.maximum(power_w, 0.0) / noise_power_w
    return np.log2(1.0 + snr).sum(axis=-1)
