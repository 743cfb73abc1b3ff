"""The rate-distortion function of a circular complex Gaussian source: reverse water-filling.

For a zero-mean circular complex Gaussian vector with covariance eigenvalues ``lambda_i`` (its
KLT variances), the least mean squared error at ``R`` bits per vector is

    D(theta) = sum_i min(theta, lambda_i),   R(theta) = sum_i max(0, log2(lambda_i / theta)),

(one complex dimension of variance ``lambda`` costs ``log2(lambda / D)`` bits), and
``NMSE_G(R) = D / sum_i lambda_i``. No codec does better on Gaussian data; for any other source
with the same covariance the true limit is lower (the Gaussian is the hardest source), which is
where a non-linear learned codec can pass this curve and a linear transform coder cannot.
"""

from __future__ import annotations

import numpy as np

from gainnet.errors import InvalidStateError

BISECTION_STEPS = 200


def covariance_eigenvalues(x: np.ndarray) -> np.ndarray:
    """Eigenvalues (descending, >= 0) of the covariance ``E[x x^H]`` of samples ``[n, ...]``
    (flattened per sample; the channels are zero-mean, so no mean is removed)."""
    x = np.asarray(x).reshape(len(x), -1).astype(np.complex128)
    if len(x) < 2 or not np.isfinite(np.abs(x)).all():
        raise InvalidStateError("need at least two finite samples for a covariance")
    covariance = x.T @ np.conj(x) / len(x)
    return np.clip(np.linalg.eigvalsh(covariance)[::-1], 0.0, None)


def reverse_water_filling(eigenvalues: np.ndarray, bits: float) -> tuple[float, np.ndarray]:
    """``(theta, D_i)``: the water level at which the rate is ``bits`` per vector, and the
    distortion of each component ``min(theta, lambda_i)``."""
    lam = np.asarray(eigenvalues, dtype=float)
    if lam.ndim != 1 or not np.isfinite(lam).all() or (lam < 0).any() or lam.max() <= 0:
        raise InvalidStateError("eigenvalues must be finite, >= 0 and not all zero")
    if not np.isfinite(bits) or bits < 0:
        raise InvalidStateError(f"bits must be finite and >= 0, got {bits}")
    positive = lam[lam > 0]
    if bits == 0:
        return float(positive.max()), np.minimum(positive.max(), lam)
    low, high = np.log(positive.min()) - bits * np.log(2) - 1.0, np.log(positive.max())
    for _ in range(BISECTION_STEPS):  # rate falls as log(theta) rises
        middle = 0.5 * (low + high)
        rate = np.sum(np.maximum(0.0, (np.log(positive) - middle) / np.log(2)))
        low, high = (middle, high) if rate > bits else (low, middle)
    theta = float(np.exp(0.5 * (low + high)))
    return theta, np.minimum(theta, lam)


def gaussian_nmse_db(eigenvalues: np.ndarray, bits: float) -> float:
    """``10 log10 NMSE_G(bits)``: the Gaussian source's least NMSE at ``bits`` per vector."""
    _, distortion = reverse_water_filling(eigenvalues, bits)
    return float(10 * np.log10(distortion.sum() / np.sum(eigenvalues)))
