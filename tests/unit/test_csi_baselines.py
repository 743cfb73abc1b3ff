"""PCA with a fixed-length code and the downstream beamforming numbers, against hand values."""

from __future__ import annotations

import numpy as np
import pytest

from gainnet.csi.downstream import beamforming_gain_db, received_gain, spectral_efficiency
from gainnet.csi.pca_code import PcaCoder
from gainnet.csi.rate_distortion import gaussian_nmse_db
from gainnet.errors import InvalidStateError

D = 16
LAMBDA = np.exp(-np.arange(D) / 3.0)


def gaussian(rng, n):
    q, _ = np.linalg.qr(np.random.default_rng(9).standard_normal((D, D)) + 1j * np.eye(D))
    z = (rng.standard_normal((n, D)) + 1j * rng.standard_normal((n, D))) / np.sqrt(2)
    return ((z * np.sqrt(LAMBDA)) @ q.T).reshape(n, 4, 4)


def test_pca_error_is_the_dropped_energy_plus_the_quantiser_error():
    """Keeping the k strongest of 16 components at 4 bits per real value: the error is the
    energy of the dropped components plus the 4-bit quantiser's share of each kept one's
    (16 equiprobable cells decoded to their centroids: ``1 - sum_i P_i c_i^2 = 1 - mean c_i^2``
    of a unit variance); never below the Gaussian limit at the same bits."""
    from gainnet.csi.latent_codes import gaussian_cells

    rng = np.random.default_rng(0)
    train, test = gaussian(rng, 20_000), gaussian(rng, 5000)
    for values in (4, 8, 16):
        coder = PcaCoder.fit(train, values, 4)
        x_hat = coder.decode(coder.encode(test), (4, 4))
        nmse = np.sum(np.abs(test - x_hat) ** 2) / np.sum(np.abs(test) ** 2)
        k = values // 2
        quantiser = 1 - np.mean(gaussian_cells(16)[1] ** 2)  # 0.0222
        expected = (LAMBDA[k:].sum() + quantiser * LAMBDA[:k].sum()) / LAMBDA.sum()
        assert nmse == pytest.approx(expected, rel=0.05)
        assert coder.bits == values * 4
        assert 10 * np.log10(nmse) > gaussian_nmse_db(LAMBDA, coder.bits)


def test_pca_bad_input_is_refused():
    rng = np.random.default_rng(1)
    with pytest.raises(InvalidStateError):
        PcaCoder.fit(gaussian(rng, 100), 3, 4)  # odd
    with pytest.raises(InvalidStateError):
        PcaCoder.fit(gaussian(rng, 100), 40, 4)  # more than 2 x 16
    with pytest.raises(InvalidStateError):
        PcaCoder.fit(gaussian(rng, 100).real, 4, 4)
    coder = PcaCoder.fit(gaussian(rng, 100), 4, 4)
    with pytest.raises(InvalidStateError):
        coder.encode(np.ones((2, 3, 3), complex))


def test_beamforming_with_hand_channels():
    h = np.zeros((1, 2, 2), complex)
    h[0, 0] = [1, 0]  # subcarrier 0 on antenna 0
    h[0, 1] = [1, 1]  # subcarrier 1 on both
    perfect = received_gain(h, h)
    np.testing.assert_allclose(perfect, [[1.0, 1.0]])
    h_hat = np.zeros_like(h)
    h_hat[0, 0] = [1, 1]  # 45 degrees off: half the gain
    h_hat[0, 1] = [1j, 1j]  # a common phase does not matter
    np.testing.assert_allclose(received_gain(h, h_hat), [[0.5, 1.0]])
    assert beamforming_gain_db(h, h_hat) == pytest.approx(10 * np.log10(0.75))
    # mean ||h_k||^2 is 1.5: scaled, the subcarriers hold 2/3 and 4/3; SNR 10 dB
    expected = np.mean([np.log2(1 + 10 * 0.5 * 2 / 3), np.log2(1 + 10 * 4 / 3)])
    assert spectral_efficiency(h, h_hat, 10.0) == pytest.approx(expected)
    assert spectral_efficiency(h, None, 10.0) > spectral_efficiency(h, h_hat, 10.0)
    with pytest.raises(InvalidStateError):
        received_gain(h, h_hat[:, :1])
    with pytest.raises(InvalidStateError):
        received_gain(h, np.full_like(h, np.nan))
    with pytest.raises(InvalidStateError):
        spectral_efficiency(h, h, float("nan"))
