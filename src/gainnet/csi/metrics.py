"""Reconstruction metrics of CSI feedback, as CsiNet reports them (and over the full band).

- :func:`nmse_db`: ``10 log10 mean_i ||x_i - x^_i||^2 / ||x_i||^2``, the mean of per-sample ratios
  (CsiNet's convention), in whatever domain the arrays are (truncated angular-delay: CsiNet's
  NMSE; the full frequency response: what a system sees, truncation loss included);
- :func:`cosine_correlation`: CsiNet's ``rho``, ``mean_i mean_k |h^_ik^H h_ik| / (||h^_ik||
  ||h_ik||)`` over subcarriers ``k`` of the frequency response (1 is perfect; a per-subcarrier
  scale or phase does not count, which is what beamforming needs).
"""

from __future__ import annotations

import numpy as np

from gainnet.errors import InvalidStateError


def _pair(x: np.ndarray, x_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, x_hat = np.asarray(x), np.asarray(x_hat)
    if x.shape != x_hat.shape or x.ndim < 2:
        raise InvalidStateError(f"shapes differ or have no sample axis: {x.shape} vs {x_hat.shape}")
    if not (np.isfinite(np.abs(x)).all() and np.isfinite(np.abs(x_hat)).all()):
        raise InvalidStateError("the CSI or its reconstruction holds NaN or infinite values")
    return x.astype(np.complex128), x_hat.astype(np.complex128)


def nmse_per_sample(x: np.ndarray, x_hat: np.ndarray) -> np.ndarray:
    """``[n]``: ``||x_i - x^_i||^2 / ||x_i||^2`` (linear)."""
    x, x_hat = _pair(x, x_hat)
    axes = tuple(range(1, x.ndim))
    error = np.sum(np.abs(x - x_hat) ** 2, axis=axes)
    return error / np.maximum(np.sum(np.abs(x) ** 2, axis=axes), 1e-300)


def nmse_db(x: np.ndarray, x_hat: np.ndarray) -> float:
    """The mean of the per-sample NMSEs, in dB."""
    return float(10 * np.log10(np.mean(nmse_per_sample(x, x_hat))))


def cosine_correlation(h: np.ndarray, h_hat: np.ndarray) -> float:
    """CsiNet's ``rho`` for frequency responses ``[n, num_subcarriers, num_bs_antennas]``."""
    h, h_hat = _pair(h, h_hat)
    inner = np.abs(np.sum(np.conj(h_hat) * h, axis=2))
    norms = np.linalg.norm(h, axis=2) * np.linalg.norm(h_hat, axis=2)
    return float(np.mean(inner / np.maximum(norms, 1e-300)))
