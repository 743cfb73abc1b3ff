"""CSI feedback maths: the angular-delay transform, NMSE / rho against hand values, and the
Gaussian rate-distortion function against its closed form."""

from __future__ import annotations

import numpy as np
import pytest

from gainnet.csi.metrics import cosine_correlation, nmse_db, nmse_per_sample
from gainnet.csi.preprocess import kept_energy, per_antenna_rows, to_angular_delay, to_frequency
from gainnet.csi.rate_distortion import (
    covariance_eigenvalues,
    gaussian_nmse_db,
    reverse_water_filling,
)
from gainnet.errors import InvalidStateError


def random_h(rng, n=5, k=64, m=8):
    return (rng.standard_normal((n, k, m)) + 1j * rng.standard_normal((n, k, m))).astype(
        np.complex64
    )


def test_dft_round_trip_and_energy():
    rng = np.random.default_rng(0)
    h = random_h(rng)
    x = to_angular_delay(h, num_taps=64)
    np.testing.assert_allclose(np.sum(np.abs(x) ** 2), np.sum(np.abs(h) ** 2), rtol=1e-5)
    np.testing.assert_allclose(to_frequency(x, 64), h, atol=1e-5)
    # white channels spread over every tap: 32 of 64 taps keep about half the energy
    assert abs(kept_energy(random_h(rng, n=400), 32).mean() - 0.5) < 0.01


def test_a_channel_within_the_first_taps_loses_nothing_to_truncation():
    rng = np.random.default_rng(1)
    k, m = 64, 8
    taps = np.zeros((3, k, m), complex)
    taps[:, [0, 5, 31]] = rng.standard_normal((3, 3, m)) + 1j * rng.standard_normal((3, 3, m))
    h = np.fft.fft(taps, axis=1, norm="ortho")  # delays 0, 5 and 31 samples
    np.testing.assert_allclose(kept_energy(h, 32), 1.0, atol=1e-6)
    x = to_angular_delay(h, 32)
    np.testing.assert_allclose(to_frequency(x, k), h, atol=1e-5)
    assert kept_energy(h, 31).max() < 1.0  # the tap at 31 is cut


def test_nmse_and_rho_hand_values():
    x = np.array([[1.0 + 0j, 0.0], [1.0, 0.0]])
    x_hat = np.array([[0.9 + 0j, 0.0], [1.0, np.sqrt(0.1)]])
    np.testing.assert_allclose(nmse_per_sample(x, x_hat), [0.01, 0.1])
    assert nmse_db(x, x_hat) == pytest.approx(10 * np.log10(0.055))
    rng = np.random.default_rng(2)
    h = random_h(rng, n=3, k=4, m=6)
    scaled = h * (2.0 - 1.5j)  # a complex scale per subcarrier keeps the beam direction
    assert cosine_correlation(h, scaled) == pytest.approx(1.0)
    orthogonal = np.zeros_like(h)
    orthogonal[..., 0] = -np.conj(h[..., 1])
    orthogonal[..., 1] = np.conj(h[..., 0])
    h2 = h.copy()
    h2[..., 2:] = 0
    assert cosine_correlation(h2, orthogonal) == pytest.approx(0.0, abs=1e-6)


def test_gaussian_rate_distortion_closed_forms():
    # N equal eigenvalues: theta = lambda 2^(-R/N), NMSE = 2^(-R/N)
    for bits in (0.0, 4.0, 64.0, 300.0):
        assert gaussian_nmse_db(np.full(16, 2.5), bits) == pytest.approx(
            10 * np.log10(2.0 ** (-bits / 16)), abs=1e-9
        )
    # [4, 1] at 1 bit: theta = 2 (the weak component gets no bits): D = 2 + 1
    theta, d = reverse_water_filling(np.array([4.0, 1.0]), 1.0)
    assert theta == pytest.approx(2.0) and d.sum() == pytest.approx(3.0)
    # at 3 bits both get bits: theta^2 = 4 / 2^3
    theta, d = reverse_water_filling(np.array([4.0, 1.0]), 3.0)
    assert theta == pytest.approx(np.sqrt(0.5)) and d.sum() == pytest.approx(2 * np.sqrt(0.5))
    # zero eigenvalues cost nothing and add no distortion
    assert gaussian_nmse_db(np.array([4.0, 1.0, 0.0]), 3.0) == pytest.approx(
        gaussian_nmse_db(np.array([4.0, 1.0]), 3.0)
    )


def test_covariance_eigenvalues_of_a_known_covariance():
    rng = np.random.default_rng(3)
    lam = np.array([5.0, 2.0, 0.5, 0.1])
    z = (rng.standard_normal((200_000, 4)) + 1j * rng.standard_normal((200_000, 4))) / np.sqrt(2)
    q, _ = np.linalg.qr(rng.standard_normal((4, 4)) + 1j * rng.standard_normal((4, 4)))
    x = (z * np.sqrt(lam)) @ q.T
    np.testing.assert_allclose(covariance_eigenvalues(x), lam, rtol=0.02)


@pytest.mark.parametrize(
    "call",
    [
        lambda: to_angular_delay(np.ones((2, 8, 4))),  # real
        lambda: to_angular_delay(np.full((2, 8, 4), np.nan + 0j)),
        lambda: to_angular_delay(np.ones((2, 8, 4), complex), num_taps=9),
        lambda: to_frequency(np.ones((2, 8, 4), complex), 4),
        lambda: nmse_db(np.ones((2, 3), complex), np.ones((2, 4), complex)),
        lambda: nmse_db(np.ones((2, 3), complex), np.full((2, 3), np.inf + 0j)),
        lambda: reverse_water_filling(np.array([1.0, -1.0]), 2.0),
        lambda: reverse_water_filling(np.array([1.0]), float("nan")),
        lambda: covariance_eigenvalues(np.ones((1, 3), complex)),
        lambda: per_antenna_rows(np.ones((2, 3, 4))),
    ],
)
def test_bad_input_is_refused(call):
    with pytest.raises(InvalidStateError):
        call()


def test_per_antenna_rows_layout():
    h = np.arange(2 * 2 * 3 * 4).reshape(2, 2, 3, 4) + 0j  # [n, ut, bs, subcarriers]
    rows = per_antenna_rows(h)
    assert rows.shape == (4, 4, 3)
    np.testing.assert_array_equal(rows[1], h[0, 1].T)
