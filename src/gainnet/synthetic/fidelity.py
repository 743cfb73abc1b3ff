"""Fidelity of synthetic channels: what a channel modeller checks, generator against real.

A dataset's ``h`` is the downlink frequency response ``[n, num_ut_antennas, num_bs_antennas,
num_subcarriers]`` of a half-wavelength uniform linear array at the base station (BS).

- Power-delay profile (PDP): a unitary IFFT over the subcarriers; delay bin ``k`` is
  ``k / (num_subcarriers * subcarrier_spacing_hz)`` s. The RMS delay spread is the power-weighted
  standard deviation of the delay.
- Angular power spectrum: a unitary DFT over the BS antennas. With the steering vector
  ``a_i(theta) = exp(j pi i sin theta) / sqrt(N)``, bin ``m`` holds spatial frequency
  ``u_m = 2 m / N`` wrapped to ``[-1, 1)``, angle ``theta_m = arcsin(u_m)``, so an on-grid plane
  wave lands in one bin. The angular spread is the circular RMS spread of 3GPP TR 38.901
  Annex A, ``sqrt(-2 ln |sum_m p_m exp(j theta_m)| / sum_m p_m)``.
- Spatial covariance, its eigen spectrum and effective rank ``exp(entropy)`` (Roy & Vetterli,
  "The effective rank", EUSIPCO 2007), and the correlation matrix distance (Herdin et al.,
  "Correlation matrix distance, a meaningful measure for evaluation of non-stationary MIMO
  channels", VTC 2005).
- Distribution distances on a fixed phase-invariant embedding (the square root of the
  normalised angular-delay power map): the RBF-kernel maximum mean discrepancy (Gretton et al.,
  "A kernel two-sample test", JMLR 2012), the Fréchet distance between fitted Gaussians (as FID
  computes it) and, per scalar statistic, the two-sample Kolmogorov-Smirnov distance.
- Memorisation: how many synthetic samples sit closer to a training sample than nearly all
  real samples sit to each other.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats

from gainnet.errors import InvalidStateError

METRICS: dict[str, str] = {
    "pdp_error_db": "mean |dB error| of the mean power-delay profile (strongest bins)",
    "delay_spread_ks": "KS distance of the RMS delay spreads",
    "angular_spread_ks": "KS distance of the angular spreads",
    "eigen_spectrum_error_db": "mean |dB error| of the covariance eigen spectrum",
    "correlation_matrix_distance": "correlation matrix distance of the spatial covariances",
    "mmd": "squared RBF-kernel MMD of the embeddings",
    "frechet": "Fréchet distance of Gaussians fitted to the embeddings",
}
"""The distance keys of :func:`fidelity_metrics` (lower is better) and what each measures."""

_BLOCK = 256  # samples per block of the FFT-based maps
_ROWS = 1024  # rows per block of the pairwise-distance computations


def _check_h(h: np.ndarray, what: str = "h") -> np.ndarray:
    h = np.asarray(h)
    if h.ndim != 4 or not np.iscomplexobj(h) or 0 in h.shape:
        raise InvalidStateError(f"{what} must be a complex [n, ut, bs, sc] array, got {h.shape}")
    if not np.isfinite(h).all():
        raise InvalidStateError(f"{what} holds NaN or infinite values")
    return h


def _check_rows(x: np.ndarray, what: str, min_rows: int = 1) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2 or len(x) < min_rows or x.shape[1] == 0 or np.iscomplexobj(x):
        raise InvalidStateError(f"{what} must be a real [n >= {min_rows}, d] array, got {x.shape}")
    if not np.isfinite(x).all():
        raise InvalidStateError(f"{what} holds NaN or infinite values")
    return x.astype(np.float64)


def _check_pair(x: np.ndarray, y: np.ndarray, min_rows: int = 1) -> tuple[np.ndarray, np.ndarray]:
    x, y = _check_rows(x, "x", min_rows), _check_rows(y, "y", min_rows)
    if x.shape[1] != y.shape[1]:
        raise InvalidStateError(f"x and y differ in dimension: {x.shape[1]} vs {y.shape[1]}")
    return x, y


def _check_square(r: np.ndarray, what: str) -> np.ndarray:
    r = np.asarray(r)
    if r.ndim != 2 or r.shape[0] != r.shape[1] or r.size == 0:
        raise InvalidStateError(f"{what} must be a non-empty square matrix, got {r.shape}")
    if not np.isfinite(r).all():
        raise InvalidStateError(f"{what} holds NaN or infinite values")
    return r.astype(np.complex128)


def _blocked(h: np.ndarray, power_map: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``power_map`` of complex128 blocks of samples, each normalised to sum 1 per sample."""
    out = []
    for start in range(0, len(h), _BLOCK):
        p = power_map(h[start : start + _BLOCK].astype(np.complex128))
        total = p.reshape(len(p), -1).sum(axis=1).reshape((-1,) + (1,) * (p.ndim - 1))
        out.append(np.divide(p, total, out=np.zeros_like(p), where=total > 0))
    return np.concatenate(out)


def power_delay_profiles(h: np.ndarray, num_taps: int | None = None) -> np.ndarray:
    """``[n, num_taps]`` float64 (all ``num_subcarriers`` bins by default): each sample's PDP
    over its first ``num_taps`` delay bins, summed over antennas, sum 1 (all-zero samples: all
    zeros). Delay bin ``k`` is ``k / (num_subcarriers * subcarrier_spacing_hz)`` s. Keeping the
    first taps leaves out the circular IFFT's wrapped sidelobes of off-grid delays, which would
    otherwise count as the longest delays."""
    h = _check_h(h)
    taps = h.shape[3] if num_taps is None else num_taps
    if not 1 <= taps <= h.shape[3]:
        raise InvalidStateError(f"num_taps must be in 1..{h.shape[3]}, got {num_taps}")
    return _blocked(
        h, lambda b: np.sum(np.abs(np.fft.ifft(b, norm="ortho")[..., :taps]) ** 2, axis=(1, 2))
    )


def rms_delay_spread_s(
    h: np.ndarray, subcarrier_spacing_hz: float, num_taps: int | None = None
) -> np.ndarray:
    """``[n]``: each sample's RMS delay spread in seconds over its first ``num_taps`` delay
    bins (all by default; 0 for an all-zero sample)."""
    if not (np.isfinite(subcarrier_spacing_hz) and subcarrier_spacing_hz > 0):
        raise InvalidStateError(f"subcarrier_spacing_hz must be > 0, got {subcarrier_spacing_hz}")
    p = power_delay_profiles(h, num_taps)
    tau = np.arange(p.shape[1]) / (np.shape(h)[3] * subcarrier_spacing_hz)
    mean = p @ tau
    return np.sqrt(np.maximum(p @ tau**2 - mean**2, 0.0))


def beam_angles_rad(num_bs_antennas: int) -> np.ndarray:
    """``[N]``: the angle of each DFT bin, ``arcsin(u_m)`` with ``u_m = 2 m / N`` in ``[-1, 1)``."""
    u = 2.0 * np.arange(num_bs_antennas) / num_bs_antennas
    return np.arcsin(np.where(u >= 1.0, u - 2.0, u))


def angular_power_spectra(h: np.ndarray) -> np.ndarray:
    """``[n, num_bs_antennas]`` float64: beam-domain power (bin ``m`` at
    :func:`beam_angles_rad` ``[m]``), summed over UT antennas and subcarriers, sum 1 per sample."""
    h = _check_h(h)
    return _blocked(h, lambda b: np.sum(np.abs(np.fft.fft(b, axis=2, norm="ortho")) ** 2, (1, 3)))


def angular_spread_deg(h: np.ndarray) -> np.ndarray:
    """``[n]``: the circular RMS angular spread of 38.901 Annex A in degrees (0 if all-zero)."""
    p = angular_power_spectra(h)
    total = p.sum(axis=1)
    resultant = np.abs(p @ np.exp(1j * beam_angles_rad(p.shape[1])))
    ratio = np.divide(resultant, total, out=np.ones_like(total), where=total > 0)
    return np.degrees(np.sqrt(-2.0 * np.log(np.clip(ratio, 1e-300, 1.0))))


def spatial_covariance(h: np.ndarray) -> np.ndarray:
    """``[N, N]`` complex128: the mean of ``h h^H`` over samples, UT antennas and subcarriers of
    the BS-antenna vectors, each sample scaled to unit Frobenius norm, normalised to trace 1."""
    h = _check_h(h)
    r = np.zeros((h.shape[2], h.shape[2]), dtype=np.complex128)
    for start in range(0, len(h), _BLOCK):
        b = h[start : start + _BLOCK].astype(np.complex128)
        norm = np.linalg.norm(b.reshape(len(b), -1), axis=1)[:, None, None, None]
        b = np.divide(b, norm, out=np.zeros_like(b), where=norm > 0)
        v = b.transpose(2, 0, 1, 3).reshape(h.shape[2], -1)
        r += v @ v.conj().T
    trace = np.real(np.trace(r))
    if trace <= 0:
        raise InvalidStateError("every channel is zero: the spatial covariance is undefined")
    return r / trace


def eigen_spectrum(covariance: np.ndarray) -> np.ndarray:
    """``[N]``: eigenvalues of a Hermitian PSD matrix, descending, clipped at 0, sum 1."""
    r = _check_square(covariance, "covariance")
    w = np.clip(np.linalg.eigvalsh((r + r.conj().T) / 2)[::-1], 0.0, None)
    if w.sum() <= 0:
        raise InvalidStateError("the covariance has no positive eigenvalue")
    return w / w.sum()


def effective_rank(covariance: np.ndarray) -> float:
    """``exp(entropy)`` of :func:`eigen_spectrum` (identity of size N: N; rank one: 1)."""
    w = eigen_spectrum(covariance)
    w = w[w > 0]
    return float(np.exp(-np.sum(w * np.log(w))))


def correlation_matrix_distance(r1: np.ndarray, r2: np.ndarray) -> float:
    """``1 - |tr(r1 r2^H)| / (||r1||_F ||r2||_F)`` in ``[0, 1]`` (0 for proportional matrices)."""
    r1, r2 = _check_square(r1, "r1"), _check_square(r2, "r2")
    if r1.shape != r2.shape:
        raise InvalidStateError(f"r1 and r2 differ in shape: {r1.shape} vs {r2.shape}")
    norms = np.linalg.norm(r1) * np.linalg.norm(r2)
    if norms <= 0:
        raise InvalidStateError("the correlation matrix distance of a zero matrix is undefined")
    return float(np.clip(1.0 - np.abs(np.vdot(r2, r1)) / norms, 0.0, 1.0))


def embedding(h: np.ndarray, num_taps: int) -> np.ndarray:
    """``[n, num_taps * num_bs_antennas]`` float64, unit Euclidean norm (zero for an all-zero
    sample): the square root of the angular-delay power map (unitary IFFT over subcarriers, the
    first ``num_taps`` taps, unitary FFT over BS antennas, ``|.|^2`` summed over UT antennas,
    sum 1), flattened delay-major. Invariant to each sample's phase and scale."""
    h = _check_h(h)
    if not 1 <= num_taps <= h.shape[3]:
        raise InvalidStateError(f"num_taps must be in 1..{h.shape[3]}, got {num_taps}")

    def power(b: np.ndarray) -> np.ndarray:
        delay = np.fft.ifft(b, norm="ortho")[..., :num_taps]
        return np.sum(np.abs(np.fft.fft(delay, axis=2, norm="ortho")) ** 2, axis=1).swapaxes(1, 2)

    return np.sqrt(_blocked(h, power)).reshape(len(h), -1)


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d2 = np.sum(a**2, axis=1)[:, None] + np.sum(b**2, axis=1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d2, 0.0)


def _kernel_sum(a: np.ndarray, b: np.ndarray, bandwidth: float) -> float:
    return sum(
        float(np.exp(-_squared_distances(a[s : s + _ROWS], b) / (2.0 * bandwidth**2)).sum())
        for s in range(0, len(a), _ROWS)
    )


def median_heuristic(x: np.ndarray, max_rows: int = 2000) -> float:
    """The median pairwise Euclidean distance (``i < j``) of at most ``max_rows`` evenly spaced
    rows of ``x [n, d]`` (deterministic, so a fixed set always gives the same bandwidth)."""
    x = _check_rows(x, "x", min_rows=2)
    x = x[np.unique(np.linspace(0, len(x) - 1, min(len(x), max_rows)).round().astype(int))]
    median = float(np.median(np.sqrt(_squared_distances(x, x)[np.triu_indices(len(x), k=1)])))
    if median <= 0:
        raise InvalidStateError("the median pairwise distance is 0: pass an explicit bandwidth")
    return median


def mmd_rbf(x: np.ndarray, y: np.ndarray, bandwidth: float | None = None) -> float:
    """The biased (V-statistic) squared MMD of ``x [n, d]`` and ``y [m, d]`` with the kernel
    ``exp(-||a - b||^2 / (2 bandwidth^2))``; ``None``: :func:`median_heuristic` of the pooled
    set. Computed in row blocks (memory ``O(block * (n + m))``)."""
    x, y = _check_pair(x, y)
    if bandwidth is None:
        bandwidth = median_heuristic(np.concatenate([x, y]))
    if not (np.isfinite(bandwidth) and bandwidth > 0):
        raise InvalidStateError(f"bandwidth must be > 0, got {bandwidth}")
    kxx = _kernel_sum(x, x, bandwidth) / len(x) ** 2
    kyy = _kernel_sum(y, y, bandwidth) / len(y) ** 2
    kxy = _kernel_sum(x, y, bandwidth) / (len(x) * len(y))
    return max(kxx + kyy - 2.0 * kxy, 0.0)


def frechet_distance(x: np.ndarray, y: np.ndarray) -> float:
    """``||m1 - m2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))`` of Gaussians fitted to ``x [n, d]`` and
    ``y [m, d]`` (FID's formula). ``tr (S1 S2)^(1/2)`` is taken as the sum of the square roots of
    the eigenvalues of the symmetric ``S1^(1/2) S2 S1^(1/2)``: the same value as
    ``scipy.linalg.sqrtm``, without its trouble on the singular covariances of few samples."""
    x, y = _check_pair(x, y, min_rows=2)
    s1, s2 = np.atleast_2d(np.cov(x, rowvar=False)), np.atleast_2d(np.cov(y, rowvar=False))
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    cross = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(root1 @ s2 @ root1), 0.0, None)))
    mean = float(np.sum((x.mean(axis=0) - y.mean(axis=0)) ** 2))
    return max(mean + float(np.trace(s1) + np.trace(s2) - 2.0 * cross), 0.0)


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The two-sample Kolmogorov-Smirnov statistic of two 1-D samples (0 equal, 1 disjoint)."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.size == 0 or b.size == 0 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise InvalidStateError("KS samples must be non-empty and finite")
    return float(stats.ks_2samp(a, b, method="asymp").statistic)


def nearest_neighbour_distance(
    query: np.ndarray, reference: np.ndarray, exclude_self: bool = False
) -> np.ndarray:
    """``[n]``: the Euclidean distance of each ``query`` row to its nearest ``reference`` row;
    ``exclude_self`` (``query`` is ``reference``): to the nearest *other* row."""
    query = _check_rows(query, "query")
    reference = _check_rows(reference, "reference", min_rows=2 if exclude_self else 1)
    if query.shape[1] != reference.shape[1] or (exclude_self and len(query) != len(reference)):
        raise InvalidStateError(f"query {query.shape} does not match reference {reference.shape}")
    out = np.empty(len(query))
    for s in range(0, len(query), _ROWS):
        d2 = _squared_distances(query[s : s + _ROWS], reference)
        if exclude_self:
            rows = np.arange(len(d2))
            d2[rows, rows + s] = np.inf
        out[s : s + len(d2)] = np.sqrt(d2.min(axis=1))
    return out


def memorisation(
    synthetic_emb: np.ndarray, train_emb: np.ndarray, real_holdout_emb: np.ndarray
) -> dict[str, float]:
    """Threshold ``t``: the 1st percentile of the leave-one-out nearest-neighbour distances within
    the training set; the fractions of synthetic and of held-out real rows whose nearest training
    row is closer than ``t`` (a copier: 1; a real held-out set: about 0.01), and their medians."""
    threshold = float(np.percentile(nearest_neighbour_distance(train_emb, train_emb, True), 1))
    synthetic = nearest_neighbour_distance(synthetic_emb, train_emb)
    real = nearest_neighbour_distance(real_holdout_emb, train_emb)
    return {
        "threshold": threshold,
        "synthetic_fraction_below": float(np.mean(synthetic < threshold)),
        "real_fraction_below": float(np.mean(real < threshold)),
        "synthetic_median_distance": float(np.median(synthetic)),
        "real_median_distance": float(np.median(real)),
    }


def _strongest(p: np.ndarray, fraction: float = 0.99) -> np.ndarray:
    """Indices of the strongest entries of ``p`` that together hold ``fraction`` of its sum."""
    order = np.argsort(-p, kind="stable")
    count = int(np.searchsorted(np.cumsum(p[order]), fraction * p.sum())) + 1
    return order[: min(count, len(p))]


def _db_error(candidate: np.ndarray, real: np.ndarray) -> float:
    keep = _strongest(real)
    db = 10.0 * np.log10(np.maximum(np.stack([candidate[keep], real[keep]]), 1e-12))
    return float(np.mean(np.abs(db[0] - db[1])))


def fidelity_metrics(
    real_test_h: np.ndarray,
    candidate_h: np.ndarray,
    train_h: np.ndarray,
    subcarrier_spacing_hz: float,
    num_taps: int,
    rng: np.random.Generator,
    max_samples: int = 2000,
) -> dict[str, float]:
    """Plain floats comparing ``candidate_h`` with ``real_test_h``: the :data:`METRICS`
    distances (PDP and delay spread over the first ``num_taps`` delay bins, the domain a
    generator models), the candidate's median delay (ns) and angular (deg) spreads and effective
    rank, and :func:`memorisation` against ``train_h`` (``memorisation_`` keys; held-out real set:
    ``real_test_h``). Each set is first subsampled to ``max_samples`` with ``rng`` (give every
    candidate an equally seeded ``rng`` to compare them on the same real rows). The MMD bandwidth
    is :func:`median_heuristic` of the real test embeddings, the same for every candidate."""
    names = ("real_test_h", "candidate_h", "train_h")
    sets = [_check_h(h, n) for h, n in zip((real_test_h, candidate_h, train_h), names, strict=True)]
    if len({h.shape[1:] for h in sets}) != 1:
        raise InvalidStateError(f"the sets differ in [ut, bs, sc]: {[h.shape for h in sets]}")
    if max_samples < 2:
        raise InvalidStateError(f"max_samples must be >= 2, got {max_samples}")
    bandwidth = median_heuristic(embedding(sets[0], num_taps))
    real, cand, train = (
        h[np.sort(rng.choice(len(h), size=min(len(h), max_samples), replace=False))] for h in sets
    )
    delay_real = rms_delay_spread_s(real, subcarrier_spacing_hz, num_taps)
    delay_cand = rms_delay_spread_s(cand, subcarrier_spacing_hz, num_taps)
    angle_real, angle_cand = angular_spread_deg(real), angular_spread_deg(cand)
    cov_real, cov_cand = spatial_covariance(real), spatial_covariance(cand)
    emb_real, emb_cand = embedding(real, num_taps), embedding(cand, num_taps)
    pdp_real = power_delay_profiles(real, num_taps).mean(0)
    pdp_cand = power_delay_profiles(cand, num_taps).mean(0)
    out = {
        "pdp_error_db": _db_error(pdp_cand, pdp_real),
        "delay_spread_ks": ks_distance(delay_cand, delay_real),
        "angular_spread_ks": ks_distance(angle_cand, angle_real),
        "delay_spread_median_ns": float(np.median(delay_cand) * 1e9),
        "angular_spread_median_deg": float(np.median(angle_cand)),
        "eigen_spectrum_error_db": _db_error(eigen_spectrum(cov_cand), eigen_spectrum(cov_real)),
        "effective_rank": effective_rank(cov_cand),
        "correlation_matrix_distance": correlation_matrix_distance(cov_cand, cov_real),
        "mmd": mmd_rbf(emb_cand, emb_real, bandwidth),
        "frechet": frechet_distance(emb_cand, emb_real),
    }
    mem = memorisation(emb_cand, embedding(train, num_taps), emb_real)
    return out | {f"memorisation_{key}": value for key, value in mem.items()}
