"""Rain attenuation after Recommendation ITU-R P.838-3 (specific attenuation from rain rate).

``gamma_R = k R^alpha`` dB/km, with ``k`` and ``alpha`` curve-fitted to frequency:

    log10 k = sum_j a_j exp(-((log10 f - b_j) / c_j)^2) + m_k log10 f + c_k
    alpha   = sum_j a_j exp(-((log10 f - b_j) / c_j)^2) + m_a log10 f + c_a

for horizontal (H) and vertical (V) polarisation (Tables 1-4 of the recommendation), combined
for a path elevation ``theta`` and polarisation tilt ``tau`` by equations (4) and (5).
"""

from __future__ import annotations

import math

import numpy as np

# (a_j, b_j, c_j, m, c) per coefficient, ITU-R P.838-3 Tables 1-4; f in GHz
_K_H = ([-5.33980, -0.35351, -0.23789, -0.94158], [-0.10008, 1.26970, 0.86036, 0.64552],
        [1.13098, 0.45400, 0.15354, 0.16817], -0.18961, 0.71147)  # fmt: skip
_K_V = ([-3.80595, -3.44965, -0.39902, 0.50167], [0.56934, -0.22911, 0.73042, 1.07319],
        [0.81061, 0.51059, 0.11899, 0.27195], -0.16398, 0.63297)  # fmt: skip
_ALPHA_H = ([-0.14318, 0.29591, 0.32177, -5.37610, 16.1721],
            [1.82442, 0.77564, 0.63773, -0.96230, -3.29980],
            [-0.55187, 0.19822, 0.13164, 1.47828, 3.43990], 0.67849, -1.95537)  # fmt: skip
_ALPHA_V = ([-0.07771, 0.56727, -0.20238, -48.2991, 48.5833],
            [2.33840, 0.95545, 1.14520, 0.791669, 0.791459],
            [-0.76284, 0.54039, 0.26809, 0.116226, 0.116479], -0.053739, 0.83433)  # fmt: skip


def _fit(table, log_f: float) -> float:
    a, b, c, m, offset = table
    bumps = np.asarray(a) * np.exp(-(((log_f - np.asarray(b)) / np.asarray(c)) ** 2))
    return float(bumps.sum() + m * log_f + offset)


def rain_coefficients(
    frequency_ghz: float, elevation_deg: float = 0.0, tilt_deg: float = 45.0
) -> tuple[float, float]:
    """``(k, alpha)`` of ITU-R P.838-3 for a path elevation and polarisation tilt.

    Parameters
    ----------
    frequency_ghz : float
        Carrier frequency, 1-1000 GHz.
    elevation_deg : float
        Path elevation angle theta (0 for a terrestrial link).
    tilt_deg : float
        Polarisation tilt tau relative to horizontal (0 horizontal, 90 vertical, 45 circular).
    """
    if not (math.isfinite(frequency_ghz) and 1.0 <= frequency_ghz <= 1000.0):
        raise ValueError(f"ITU-R P.838 covers 1-1000 GHz, got {frequency_ghz}")
    log_f = math.log10(frequency_ghz)
    k_h, k_v = 10 ** _fit(_K_H, log_f), 10 ** _fit(_K_V, log_f)
    a_h, a_v = _fit(_ALPHA_H, log_f), _fit(_ALPHA_V, log_f)
    mix = math.cos(math.radians(elevation_deg)) ** 2 * math.cos(math.radians(2 * tilt_deg))
    k = (k_h + k_v + (k_h - k_v) * mix) / 2
    alpha = (k_h * a_h + k_v * a_v + (k_h * a_h - k_v * a_v) * mix) / (2 * k)
    return k, alpha


def rain_attenuation_db_per_km(
    frequency_ghz: float,
    rain_rate_mm_per_h: float,
    elevation_deg: float = 0.0,
    tilt_deg: float = 45.0,
) -> float:
    """Specific attenuation ``gamma_R = k R^alpha`` in dB/km (R in mm/h, >= 0)."""
    if not (math.isfinite(rain_rate_mm_per_h) and rain_rate_mm_per_h >= 0):
        raise ValueError(f"rain rate must be a finite number >= 0 mm/h, got {rain_rate_mm_per_h}")
    k, alpha = rain_coefficients(frequency_ghz, elevation_deg, tilt_deg)
    return k * rain_rate_mm_per_h**alpha


def rain_power_gain(
    frequency_ghz: float, rain_rate_mm_per_h: float, path_length_km: float
) -> float:
    """Linear power factor (<= 1) that rain over ``path_length_km`` applies to a channel gain."""
    if not (math.isfinite(path_length_km) and path_length_km >= 0):
        raise ValueError(f"path length must be >= 0 km, got {path_length_km}")
    loss_db = rain_attenuation_db_per_km(frequency_ghz, rain_rate_mm_per_h) * path_length_km
    return 10 ** (-loss_db / 10)
