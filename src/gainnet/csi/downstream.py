"""What the reconstructed CSI is worth downstream: maximum-ratio beamforming with it.

The base station beamforms on subcarrier ``k`` with ``w_k = h^_k / ||h^_k||`` from the fed-back
CSI; with the true channel ``h_k`` the user receives ``|h_k^H w_k|^2``, at most ``||h_k||^2``
(perfect CSI). Two numbers per codec:

- :func:`beamforming_gain_db`: ``10 log10 mean |h_k^H w_k|^2 / ||h_k||^2`` over samples and
  subcarriers (0 dB with perfect CSI; it is the mean squared cosine, where ``rho`` is the mean
  cosine);
- :func:`spectral_efficiency`: ``mean log2(1 + snr |h_k^H w_k|^2)`` in bit/s/Hz with each
  channel scaled so that its mean ``||h_k||^2`` over subcarriers is 1: ``snr`` is the mean
  receive SNR of perfect-CSI beamforming.
"""

from __future__ import annotations

import numpy as np

from gainnet.errors import InvalidStateError


def received_gain(h: np.ndarray, h_hat: np.ndarray) -> np.ndarray:
    """``[n, num_subcarriers]``: ``|h_k^H w_k|^2 / ||h_k||^2`` for frequency responses
    ``h, h_hat [n, num_subcarriers, num_bs_antennas]`` (a zero ``h^_k`` gives 0)."""
    h, h_hat = np.asarray(h), np.asarray(h_hat)
    if h.shape != h_hat.shape or h.ndim != 3:
        raise InvalidStateError(f"h and h_hat must both be [n, K, N], got {h.shape}, {h_hat.shape}")
    if not (np.isfinite(h).all() and np.isfinite(h_hat).all()):
        raise InvalidStateError("the CSI or its reconstruction holds NaN or infinite values")
    h, h_hat = h.astype(np.complex128), h_hat.astype(np.complex128)
    inner = np.abs(np.sum(np.conj(h_hat) * h, axis=2)) ** 2
    norms = np.sum(np.abs(h) ** 2, axis=2) * np.sum(np.abs(h_hat) ** 2, axis=2)
    return np.where(norms > 0, inner / np.maximum(norms, 1e-300), 0.0)


def beamforming_gain_db(h: np.ndarray, h_hat: np.ndarray) -> float:
    """The mean received gain relative to perfect CSI, in dB (<= 0)."""
    return float(10 * np.log10(max(received_gain(h, h_hat).mean(), 1e-300)))


def spectral_efficiency(h: np.ndarray, h_hat: np.ndarray | None, snr_db: float = 10.0) -> float:
    """bit/s/Hz of maximum-ratio beamforming on ``h_hat`` (``None``: perfect CSI), averaged over
    samples and subcarriers, each channel scaled to a mean ``||h_k||^2`` of 1."""
    if not np.isfinite(snr_db):
        raise InvalidStateError(f"snr_db must be finite, got {snr_db}")
    h = np.asarray(h)
    gain = received_gain(h, h if h_hat is None else h_hat)
    power = np.sum(np.abs(h.astype(np.complex128)) ** 2, axis=2)
    power = power / np.maximum(power.mean(axis=1, keepdims=True), 1e-300)
    return float(np.mean(np.log2(1 + 10 ** (snr_db / 10) * gain * power)))
