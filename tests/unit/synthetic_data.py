"""Small synthetic channels and user metadata for the gainnet.synthetic tests (NumPy only)."""

from __future__ import annotations

import numpy as np


def channels(n: int, antennas: int = 8, subcarriers: int = 32, seed: int = 0) -> np.ndarray:
    """A few random paths per channel, [n, 1, antennas, subcarriers], within 4 delay taps."""
    rng = np.random.default_rng(seed)
    h = np.zeros((n, 1, antennas, subcarriers), dtype=np.complex128)
    for _ in range(3):
        u = rng.uniform(-1, 1, n)
        tap = rng.integers(0, 4, n)
        gain = rng.standard_normal(n) + 1j * rng.standard_normal(n)
        steer = np.exp(1j * np.pi * np.arange(antennas)[None, :] * u[:, None])
        delay = np.exp(-2j * np.pi * np.arange(subcarriers)[None, :] * tap[:, None] / subcarriers)
        h[:, 0] += gain[:, None, None] * steer[:, :, None] * delay[:, None, :]
    return (h * 1e-5).astype(np.complex64)


def metadata(n: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    azimuth = np.radians(rng.uniform(0, 120, n))
    r = rng.uniform(35, 250, n)
    position = np.column_stack([r * np.cos(azimuth), r * np.sin(azimuth), np.full(n, -23.5)])
    return {
        "position_m": position.astype(np.float32),
        "los": rng.integers(0, 2, n),
        "indoor": rng.integers(0, 2, n),
    }
