"""Fidelity metrics of synthetic channels against closed forms: delay and angular spreads of
on-grid paths, effective rank, CMD, MMD, Fréchet, KS, nearest neighbours and memorisation."""

from __future__ import annotations

import numpy as np
import pytest

from gainnet.errors import InvalidStateError
from gainnet.synthetic.fidelity import (
    METRICS,
    angular_power_spectra,
    angular_spread_deg,
    beam_angles_rad,
    correlation_matrix_distance,
    effective_rank,
    eigen_spectrum,
    embedding,
    fidelity_metrics,
    frechet_distance,
    ks_distance,
    memorisation,
    mmd_rbf,
    nearest_neighbour_distance,
    power_delay_profiles,
    rms_delay_spread_s,
    spatial_covariance,
)

SPACING = 30e3


def paths(gains, angles_rad, delays_s, num_ut=1, num_bs=16, num_sc=64, ut_angles_rad=None):
    """One channel ``[ut, bs, sc]``: a sum of plane waves ``g a(theta) exp(-j 2 pi f tau)``."""
    ut_angles_rad = np.zeros(len(gains)) if ut_angles_rad is None else ut_angles_rad
    u, i, k = np.arange(num_ut), np.arange(num_bs), np.arange(num_sc)
    h = np.zeros((num_ut, num_bs, num_sc), dtype=np.complex128)
    for g, theta, tau, phi in zip(gains, angles_rad, delays_s, ut_angles_rad, strict=True):
        ut = np.exp(1j * np.pi * u * np.sin(phi))[:, None, None]
        bs = (np.exp(1j * np.pi * i * np.sin(theta)) / np.sqrt(num_bs))[None, :, None]
        h += g * ut * bs * np.exp(-2j * np.pi * k * SPACING * tau)[None, None, :]
    return h


def random_channels(rng, n, mean_angle_deg, angle_spread_deg, delay_scale_s, num_paths=4):
    """``[n, 2, 8, 32]`` complex64: a few random paths, exponential delays and powers."""
    out = []
    for _ in range(n):
        delays = rng.exponential(delay_scale_s, num_paths)
        power = np.exp(-delays / delay_scale_s) * rng.exponential(1.0, num_paths)
        gains = np.sqrt(power) * np.exp(2j * np.pi * rng.random(num_paths))
        angles = np.radians(mean_angle_deg + angle_spread_deg * rng.standard_normal(num_paths))
        ut = rng.uniform(-np.pi / 2, np.pi / 2, num_paths)
        out.append(paths(gains, angles, delays, num_ut=2, num_bs=8, num_sc=32, ut_angles_rad=ut))
    return (np.stack(out) * rng.lognormal(0, 1, (n, 1, 1, 1))).astype(np.complex64)


def test_pdp_and_rms_delay_spread_of_on_grid_taps():
    num_sc = 64
    bin_s = 1.0 / (num_sc * SPACING)
    taps, powers = np.array([0, 3, 10]), np.array([0.5, 0.3, 0.2])
    h = paths(
        np.sqrt(powers) * np.exp(1j * np.array([0.1, 2.0, -1.0])),
        [0.2, -0.4, 0.9],
        taps * bin_s,
        num_ut=2,
        num_sc=num_sc,
    )[None]
    pdp = power_delay_profiles(h)
    expected = np.zeros(num_sc)
    expected[taps] = powers
    np.testing.assert_allclose(pdp[0], expected, atol=1e-12)
    tau = taps * bin_s
    spread = np.sqrt(powers @ tau**2 - (powers @ tau) ** 2)
    np.testing.assert_allclose(rms_delay_spread_s(h, SPACING), [spread], rtol=1e-9)
    # an all-zero sample: a zero PDP and zero spread, no NaN
    zero = np.zeros((1, 1, 4, 8), np.complex64)
    assert not power_delay_profiles(zero).any() and rms_delay_spread_s(zero, SPACING)[0] == 0


def test_an_on_grid_plane_wave_lands_in_one_bin_with_zero_spread():
    num_bs = 16
    angles = beam_angles_rad(num_bs)
    for m in (0, 3, 8, 13):  # bin 8 is u = -1 (endfire), bin 13 is negative
        h = paths([1.0 + 1j], [angles[m]], [0.0], num_bs=num_bs)[None]
        spectrum = angular_power_spectra(h)[0]
        assert spectrum[m] == pytest.approx(1.0) and spectrum.sum() == pytest.approx(1.0)
        assert angular_spread_deg(h)[0] == pytest.approx(0.0, abs=1e-5)
    np.testing.assert_allclose(np.sin(angles[[1, 15]]), [2 / 16, -2 / 16])


def test_two_equal_plane_waves_have_the_closed_form_angular_spread():
    angles = beam_angles_rad(16)
    for m1, m2 in ((1, 3), (0, 14), (2, 12)):
        t1, t2 = angles[m1], angles[m2]
        h = paths([1.0, 1j], [t1, t2], [0.0, 5e-7], num_ut=2)[None]
        expected = np.degrees(np.sqrt(-2 * np.log(abs(np.cos((t1 - t2) / 2)))))
        assert angular_spread_deg(h)[0] == pytest.approx(expected, rel=1e-9)


def test_covariance_eigen_spectrum_and_effective_rank():
    n = 6
    assert effective_rank(np.eye(n)) == pytest.approx(n)
    v = np.exp(1j * np.arange(n))
    assert effective_rank(np.outer(v, v.conj())) == pytest.approx(1.0)
    np.testing.assert_allclose(eigen_spectrum(np.diag([1.0, 3.0, 0.0])), [0.75, 0.25, 0.0])
    # one plane wave per sample at two different on-grid angles: covariance of rank two
    angles = beam_angles_rad(8)
    h = np.stack([paths([s], [angles[m]], [0.0], num_bs=8) for s, m in ((1, 1), (100, 5))])
    r = spatial_covariance(h)
    assert np.trace(r).real == pytest.approx(1.0)
    np.testing.assert_allclose(r, r.conj().T, atol=1e-15)
    assert effective_rank(r) == pytest.approx(2.0)  # the path loss does not weight samples


def test_correlation_matrix_distance():
    r = np.array([[2.0, 1j], [-1j, 1.0]])
    assert correlation_matrix_distance(r, 3 * r) == pytest.approx(0.0, abs=1e-12)
    p1, p2 = np.diag([1.0, 0.0]), np.diag([0.0, 1.0])
    assert correlation_matrix_distance(p1, p2) == pytest.approx(1.0)
    assert 0 < correlation_matrix_distance(np.eye(2), p1) < 1


def test_embedding_has_unit_norm_and_ignores_phase_and_scale():
    rng = np.random.default_rng(0)
    h = random_channels(rng, 5, 0.0, 10.0, 1e-6)
    e = embedding(h, num_taps=8)
    assert e.shape == (5, 8 * 8)
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, rtol=1e-9)
    np.testing.assert_allclose(embedding(h * (3 * np.exp(0.7j)), 8), e, atol=1e-6)


def test_mmd_is_zero_for_identical_sets_and_grows_with_a_shift():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((300, 4))
    assert mmd_rbf(x, x.copy()) < 1e-12
    shifts = [mmd_rbf(x, rng.standard_normal((300, 4)) + s, bandwidth=2.0) for s in (0.5, 1, 2)]
    assert 0 < shifts[0] < shifts[1] < shifts[2]
    assert mmd_rbf(x, x + 1.0) > 0  # median-heuristic bandwidth


def test_frechet_distance_matches_the_closed_form():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((400, 3))
    assert frechet_distance(x, x.copy()) == pytest.approx(0.0, abs=1e-9)
    m1, m2, s1, s2 = np.zeros(3), np.array([1.0, -2.0, 0.5]), [1.0, 4.0, 0.25], [9.0, 1.0, 1.0]
    # whitened samples so the empirical means and covariances are exactly the intended ones
    z = rng.standard_normal((500, 3))
    z = (z - z.mean(0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T
    a, b = m1 + z * np.sqrt(s1), m2 + z * np.sqrt(s2)
    expected = np.sum((m1 - m2) ** 2) + np.sum(np.add(s1, s2) - 2 * np.sqrt(np.multiply(s1, s2)))
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_ks_distance():
    a = np.arange(10.0)
    assert ks_distance(a, a[::-1]) == 0.0
    assert ks_distance(a, a + 100) == 1.0


def test_nearest_neighbour_distance_with_and_without_self():
    ref = np.array([[0.0, 0.0], [3.0, 4.0], [3.0, 5.0]])
    np.testing.assert_allclose(nearest_neighbour_distance(ref, ref), 0.0, atol=1e-12)
    np.testing.assert_allclose(nearest_neighbour_distance(ref, ref, exclude_self=True), [5, 1, 1])
    np.testing.assert_allclose(nearest_neighbour_distance(np.array([[0.0, 1.0]]), ref), [1.0])


def test_memorisation_flags_a_copy_but_not_a_fresh_sample():
    rng = np.random.default_rng(3)
    train, fresh = rng.standard_normal((600, 6)), rng.standard_normal((600, 6))
    copied = memorisation(train[rng.permutation(600)], train, fresh)
    assert copied["synthetic_fraction_below"] == 1.0
    assert copied["real_fraction_below"] < 0.05 and copied["synthetic_median_distance"] < 1e-6
    honest = memorisation(rng.standard_normal((600, 6)), train, fresh)
    assert honest["synthetic_fraction_below"] < 0.05 and honest["threshold"] > 0


def test_fidelity_metrics_separate_a_different_distribution():
    rng = np.random.default_rng(4)
    real, train, same = (random_channels(rng, 200, 0.0, 10.0, 1e-6) for _ in range(3))
    other = random_channels(rng, 200, 40.0, 3.0, 5e-6)
    args = dict(subcarrier_spacing_hz=SPACING, num_taps=8, max_samples=150)
    near = fidelity_metrics(real, same, train, rng=np.random.default_rng(0), **args)
    far = fidelity_metrics(real, other, train, rng=np.random.default_rng(0), **args)
    assert all(type(v) is float and np.isfinite(v) for v in near.values())
    assert set(METRICS) <= set(near) and near.keys() == far.keys()
    for key in METRICS:
        assert near[key] < far[key], key
    assert near["delay_spread_ks"] < 0.2 and near["correlation_matrix_distance"] < 0.05
    assert near["delay_spread_median_ns"] > 0 and near["angular_spread_median_deg"] > 0
    # a copier is caught in full when the whole training set is kept (max_samples >= its size)
    args["max_samples"] = 200
    copier = fidelity_metrics(real, train, train, rng=np.random.default_rng(0), **args)
    assert copier["memorisation_synthetic_fraction_below"] == 1.0
    assert copier["memorisation_real_fraction_below"] < 0.05


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((2, 1, 4), np.complex64),  # wrong ndim
        np.zeros((2, 1, 4, 8), np.float32),  # real
        np.full((2, 1, 4, 8), np.nan, np.complex64),  # NaN
        np.zeros((0, 1, 4, 8), np.complex64),  # empty
    ],
)
def test_bad_channels_are_refused(bad):
    for fn in (power_delay_profiles, angular_spread_deg, spatial_covariance):
        with pytest.raises(InvalidStateError):
            fn(bad)
    with pytest.raises(InvalidStateError):
        embedding(bad, 4)


def test_bad_rows_are_refused():
    x = np.ones((4, 2))
    for bad in (np.ones(4), np.full((4, 2), np.nan), np.ones((0, 2)), np.ones((4, 3))):
        with pytest.raises(InvalidStateError):
            mmd_rbf(x, bad, bandwidth=1.0)
    with pytest.raises(InvalidStateError):
        ks_distance([], [1.0])
    with pytest.raises(InvalidStateError):
        ks_distance([np.nan], [1.0])
    with pytest.raises(InvalidStateError):
        correlation_matrix_distance(np.eye(2), np.eye(3))
