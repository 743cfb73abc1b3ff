"""A dataset's channels as the real vectors a generator models, and back.

A single-antenna user's channel ``H [num_bs_antennas, num_subcarriers]`` becomes CsiNet's
truncated angular-delay CSI ``X [num_taps, num_bs_antennas]`` (:mod:`gainnet.csi.preprocess`)
split into its direction and its gain:

- ``gain_db = 10 log10(||X||^2 / (num_bs_antennas num_subcarriers))``, the mean power gain per
  antenna and subcarrier (path loss, shadowing and fading; tens of dB across a cell);
- ``X / ||X||`` with its global phase removed (the largest entry made real and positive): the
  carrier phase of a channel is uniform and carries no information, so a generator need not
  learn it; :func:`to_channels` draws it again uniformly.

Before that, a generator may align the channel to its user (:func:`align_to_user`): the
base-station array's response is shifted in spatial frequency so that the user's line-of-sight
direction, known from its position, lands on broadside. The shift is exact and invertible for a
uniform linear array (a modulation ``exp(-j pi i u)`` over antennas ``i``); what remains for the
generator to learn is how the paths scatter around that direction, not where the user is.

The vector is ``[2 num_taps num_bs_antennas + 1]``: the real and imaginary parts scaled by
``sqrt(num_taps num_bs_antennas)`` (unit mean power per complex entry), then ``gain_db`` as it is
(generators standardise it). What the truncation drops (delay taps past ``num_taps``) is lost:
a synthetic channel's frequency response has no energy there.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from gainnet.csi.preprocess import to_angular_delay
from gainnet.errors import InvalidStateError

#: the azimuth (degrees) the base-station array of a UMi / UMa drop faces: Sionna's
#: single-sector topology points its sector at 60 degrees (users lie in [0, 120))
BORESIGHT_AZIMUTH_DEG = 60.0


def los_spatial_frequency(position_m: np.ndarray) -> np.ndarray:
    """``[n]``: ``u = sin(azimuth - boresight) cos(elevation)`` of each user seen from its base
    station (``position_m [n, 3]``, relative to it): the line-of-sight path's steering vector
    over the array is ``exp(j pi i u)``, antennas ``i = 0 .. N - 1`` half a wavelength apart."""
    p = np.asarray(position_m, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or not np.isfinite(p).all():
        raise InvalidStateError(f"positions must be finite [n, 3], got {p.shape}")
    azimuth = np.arctan2(p[:, 1], p[:, 0]) - np.radians(BORESIGHT_AZIMUTH_DEG)
    elevation = np.arctan2(p[:, 2], np.hypot(p[:, 0], p[:, 1]))
    return np.sin(azimuth) * np.cos(elevation)


def align_to_user(h: np.ndarray, u: np.ndarray, inverse: bool = False) -> np.ndarray:
    """``H [n, ut, bs, sc]`` with each sample's array response shifted by ``-u[i]`` in spatial
    frequency (``inverse``: by ``+u[i]``, undoing it), complex64."""
    h = np.asarray(h)
    u = np.asarray(u, dtype=np.float64)
    if h.ndim != 4 or u.shape != (len(h),):
        raise InvalidStateError(f"need H [n, ut, bs, sc] and u [n], got {h.shape} and {u.shape}")
    sign = 1.0 if inverse else -1.0
    shift = np.exp(sign * 1j * np.pi * np.arange(h.shape[2])[None, :] * u[:, None])
    return h.astype(np.complex64) * shift.astype(np.complex64)[:, None, :, None]


@dataclasses.dataclass(frozen=True)
class ChannelShape:
    """The channel a generator makes: ``num_bs_antennas`` x ``num_subcarriers``, one user
    antenna, and the ``num_taps`` delay taps it models."""

    num_bs_antennas: int
    num_subcarriers: int
    num_taps: int

    def __post_init__(self) -> None:
        for name in ("num_bs_antennas", "num_subcarriers", "num_taps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise InvalidStateError(f"{name} must be an integer >= 1, got {value!r}")
        if self.num_taps > self.num_subcarriers or self.vector_dim > 1 << 16:
            raise InvalidStateError(
                f"num_taps must be <= num_subcarriers and 2 taps antennas + 1 <= 65536, got "
                f"{self.num_taps} taps, {self.num_bs_antennas} x {self.num_subcarriers}"
            )

    @property
    def vector_dim(self) -> int:
        return 2 * self.num_taps * self.num_bs_antennas + 1

    @property
    def _scale(self) -> float:
        return float(np.sqrt(self.num_taps * self.num_bs_antennas))

    def to_vectors(self, h: np.ndarray) -> np.ndarray:
        """``[n, vector_dim]`` float32 from a dataset's ``H [n, 1, num_bs_antennas,
        num_subcarriers]`` complex (zero channels are refused)."""
        h = np.asarray(h)
        expected = (1, self.num_bs_antennas, self.num_subcarriers)
        if h.ndim != 4 or h.shape[1:] != expected or not np.iscomplexobj(h) or not len(h):
            raise InvalidStateError(f"H must be complex [n, {', '.join(map(str, expected))}], "
                                    f"got {h.shape} {h.dtype}")  # fmt: skip
        x = to_angular_delay(h[:, 0].transpose(0, 2, 1), self.num_taps).astype(np.complex128)
        power = np.sum(np.abs(x) ** 2, axis=(1, 2))
        if (power <= 0).any():
            raise InvalidStateError("a channel is all zeros in its first num_taps delay taps")
        flat = x.reshape(len(x), -1) / np.sqrt(power)[:, None]
        strongest = flat[np.arange(len(flat)), np.argmax(np.abs(flat), axis=1)]
        flat = flat * (np.conj(strongest) / np.abs(strongest))[:, None]
        gain_db = 10 * np.log10(power / (self.num_bs_antennas * self.num_subcarriers))
        parts = [flat.real * self._scale, flat.imag * self._scale, gain_db[:, None]]
        return np.concatenate(parts, axis=1).astype(np.float32)

    def to_channels(self, vectors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``H [n, 1, num_bs_antennas, num_subcarriers]`` complex64 from generated vectors:
        the direction renormalised to unit norm, a uniform global phase drawn from ``rng``."""
        v = np.asarray(vectors, dtype=np.float64)
        if v.ndim != 2 or v.shape[1] != self.vector_dim or not np.isfinite(v).all():
            raise InvalidStateError(f"vectors must be finite [n, {self.vector_dim}], got {v.shape}")
        half = self.num_taps * self.num_bs_antennas
        flat = v[:, :half] + 1j * v[:, half : 2 * half]
        norm = np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-12)
        phase = np.exp(2j * np.pi * rng.random((len(v), 1)))
        amplitude = np.sqrt(self.num_bs_antennas * self.num_subcarriers * 10 ** (v[:, -1:] / 10))
        x = (flat / norm * phase * amplitude).astype(np.complex64)
        x = x.reshape(-1, self.num_taps, self.num_bs_antennas)
        # to_frequency in single precision, the FFT along the last axis: 3-4x faster
        delay = np.ascontiguousarray(np.fft.ifft(x, axis=2, norm="ortho").transpose(0, 2, 1))
        h = np.fft.fft(delay, n=self.num_subcarriers, axis=2, norm="ortho")  # [n, N, K]
        return h[:, None].astype(np.complex64, copy=False)
