"""The mixture transform coder: it passes one KLT (and the pooled Gaussian limit) on a source
made of groups with different subspaces, and cannot pass the Gaussian limit on a Gaussian."""

from __future__ import annotations

import numpy as np
import pytest

from gainnet.csi.mixture_coding import MixtureCoder
from gainnet.csi.rate_distortion import covariance_eigenvalues, gaussian_nmse_db
from gainnet.csi.transform_coding import TransformCoder
from gainnet.errors import InvalidStateError

TAPS, ANTENNAS = 4, 8


def groups_source(rng, n):
    """Reports ``[n, 4, 8]`` whose energy sits in one of four pairs of angular bins, with a
    fixed random covariance inside each (the drops' situation in miniature)."""
    mix = np.random.default_rng(7)
    shapes = [mix.standard_normal((8, 8)) + 1j * mix.standard_normal((8, 8)) for _ in range(4)]
    group = rng.integers(0, 4, n)
    z = (rng.standard_normal((n, 8)) + 1j * rng.standard_normal((n, 8))) / np.sqrt(2)
    x = np.zeros((n, TAPS, ANTENNAS), complex)
    for g in range(4):
        rows = group == g
        block = (z[rows] @ shapes[g].T).reshape(-1, TAPS, 2)
        x[rows, :, 2 * g : 2 * g + 2] = block
    return x / np.linalg.norm(x.reshape(n, -1), axis=1)[:, None, None]


def gaussian_source(rng, n):
    lam = np.exp(-np.arange(TAPS * ANTENNAS) / 4.0)
    z = (rng.standard_normal((n, lam.size)) + 1j * rng.standard_normal((n, lam.size))) / np.sqrt(2)
    return (z * np.sqrt(lam)).reshape(n, TAPS, ANTENNAS), lam


def nmse_db(x, x_hat):
    return 10 * np.log10(np.sum(np.abs(x - x_hat) ** 2) / np.sum(np.abs(x) ** 2))


def test_groups_beat_one_klt_and_the_pooled_gaussian_limit():
    rng = np.random.default_rng(0)
    train, test = groups_source(rng, 4000), groups_source(rng, 1000)
    mixture = MixtureCoder.fit(train, 48.0, groups=5, seed=0)  # the pooled KLT + 4 groups
    group, index, bits = mixture.encode(test)
    x_hat = mixture.decode(group, index, (TAPS, ANTENNAS))
    assert abs(bits.mean() - 48.0) < 0.05 * 48.0
    coder = TransformCoder.fit(train, bits.mean())
    klt_index, _ = coder.encode(test)
    klt = nmse_db(test, coder.decode(klt_index, (TAPS, ANTENNAS)))
    pooled_limit = gaussian_nmse_db(covariance_eigenvalues(train), bits.mean())
    assert nmse_db(test, x_hat) < klt - 3.0
    assert nmse_db(test, x_hat) < pooled_limit - 1.0
    assert len(np.unique(group[group > 0])) == 4  # every group has its coder


def test_a_gaussian_source_gains_nothing():
    rng = np.random.default_rng(1)
    (train, lam), (test, _) = gaussian_source(rng, 4000), gaussian_source(rng, 1000)
    mixture = MixtureCoder.fit(train, 64.0, groups=4, seed=0)
    group, index, bits = mixture.encode(test)
    nmse = nmse_db(test, mixture.decode(group, index, (TAPS, ANTENNAS)))
    limit = gaussian_nmse_db(lam, bits.mean())
    assert limit < nmse < limit + 3.0


def test_bad_input_is_refused():
    rng = np.random.default_rng(2)
    train = groups_source(rng, 1000)
    with pytest.raises(InvalidStateError):
        MixtureCoder.fit(train, 32.0, groups=0)
    with pytest.raises(InvalidStateError):
        MixtureCoder.fit(train, float("nan"), groups=4)
    with pytest.raises(InvalidStateError):
        MixtureCoder.fit(train[:100], 32.0, groups=4)  # too few reports for 4 groups
    with pytest.raises(InvalidStateError):
        MixtureCoder.fit(np.abs(train), 32.0, groups=4)  # real
    mixture = MixtureCoder.fit(train, 32.0, groups=2)
    with pytest.raises(InvalidStateError):
        mixture.encode(np.ones((3, 5), complex))
    with pytest.raises(InvalidStateError):
        mixture.encode(np.full((3, TAPS, ANTENNAS), np.nan, complex))
    group, index, _ = mixture.encode(train[:5])
    with pytest.raises(InvalidStateError):
        mixture.decode(group + 5, index, (TAPS, ANTENNAS))
