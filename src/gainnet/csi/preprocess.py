"""CsiNet's preprocessing: the frequency response to the truncated angular-delay domain.

For one receive antenna the downlink CSI is ``H [num_subcarriers, num_bs_antennas]``. A DFT
over the subcarriers gives the delay domain, a DFT over the antennas the angular domain
(``X = F_K H F_N^H``, both unitary here, so energy is preserved); the paths of a channel arrive
within a short time, so nearly all the energy sits in the first delay taps and CsiNet keeps the
first ``num_taps`` (32), ``X [num_taps, num_bs_antennas]``. What the truncation drops is a floor
on the error over the full frequency response that the truncated-domain NMSE does not see;
:func:`kept_energy` measures it.
"""

from __future__ import annotations

import numpy as np

from gainnet.errors import InvalidStateError


def _check(h: np.ndarray, what: str) -> np.ndarray:
    h = np.asarray(h)
    if h.ndim != 3 or not np.iscomplexobj(h) or 0 in h.shape:
        raise InvalidStateError(f"{what} must be a complex [n, rows, columns] array, got {h.shape}")
    if not np.isfinite(h).all():
        raise InvalidStateError(f"{what} holds NaN or infinite values")
    return h


def to_angular_delay(h_frequency: np.ndarray, num_taps: int = 32) -> np.ndarray:
    """``[n, num_taps, num_bs_antennas]`` complex64 from ``H [n, num_subcarriers,
    num_bs_antennas]``: unitary DFTs over subcarriers (to delay) and antennas (to angle), the
    first ``num_taps`` delay taps kept."""
    h = _check(h_frequency, "H")
    if not 1 <= num_taps <= h.shape[1]:
        raise InvalidStateError(f"num_taps must be in 1..{h.shape[1]}, got {num_taps}")
    delay = np.fft.ifft(h, axis=1, norm="ortho")[:, :num_taps]
    return np.fft.fft(delay, axis=2, norm="ortho").astype(np.complex64)


def to_frequency(x_angular_delay: np.ndarray, num_subcarriers: int) -> np.ndarray:
    """The inverse of :func:`to_angular_delay`: ``H [n, num_subcarriers, num_bs_antennas]``
    with the dropped delay taps taken as zero."""
    x = _check(x_angular_delay, "X")
    if num_subcarriers < x.shape[1]:
        raise InvalidStateError(f"num_subcarriers must be >= {x.shape[1]}, got {num_subcarriers}")
    delay = np.fft.ifft(x, axis=2, norm="ortho")
    padded = np.zeros((x.shape[0], num_subcarriers, x.shape[2]), dtype=np.complex128)
    padded[:, : x.shape[1]] = delay
    return np.fft.fft(padded, axis=1, norm="ortho").astype(np.complex64)


def kept_energy(h_frequency: np.ndarray, num_taps: int = 32) -> np.ndarray:
    """``[n]``: the fraction of each channel's energy in the first ``num_taps`` delay taps."""
    h = _check(h_frequency, "H")
    total = np.sum(np.abs(h.astype(np.complex128)) ** 2, axis=(1, 2))
    kept = np.sum(np.abs(to_angular_delay(h, num_taps).astype(np.complex128)) ** 2, axis=(1, 2))
    return kept / np.maximum(total, 1e-300)


def per_antenna_rows(h: np.ndarray) -> np.ndarray:
    """A dataset's ``H [n, num_ut_antennas, num_bs_antennas, num_subcarriers]`` as one report per
    user antenna, ``[n * num_ut_antennas, num_subcarriers, num_bs_antennas]``."""
    h = np.asarray(h)
    if h.ndim != 4:
        raise InvalidStateError(f"H must be [n, ut, bs, subcarriers], got shape {h.shape}")
    return np.ascontiguousarray(h.reshape(-1, h.shape[2], h.shape[3]).transpose(0, 2, 1))


def feedback_reports(h: np.ndarray, num_taps: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """A dataset's ``H [n, ut, bs, subcarriers]`` as the reports a codec sees: ``(h [m, K, N],
    x [m, num_taps, N])``, one per user antenna, both divided by the norm of ``x`` (unit-norm
    truncated CSI; the norm is the channel quality, reported apart). Zero channels are dropped."""
    rows = per_antenna_rows(h)
    x = to_angular_delay(rows, num_taps)
    norm = np.linalg.norm(x.reshape(len(x), -1), axis=1)
    keep = norm > 0
    scale = norm[keep, None, None]
    return (rows[keep] / scale).astype(np.complex64), (x[keep] / scale).astype(np.complex64)
