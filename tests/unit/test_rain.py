"""ITU-R P.838-3 rain attenuation and the rain-scaled power-allocation scenario."""

from __future__ import annotations

import numpy as np
import pytest

import gainnet
from gainnet.continual import KSDriftDetector
from gainnet.wireless.rain import rain_attenuation_db_per_km, rain_coefficients, rain_power_gain

# Values printed in the recommendation's own coefficient table (P.838-3, Table 5)
PUBLISHED = [
    # f_GHz, kH, alphaH, kV, alphaV
    (10.0, 0.01217, 1.2571, 0.01129, 1.2156),
    (30.0, 0.2403, 0.9485, 0.2291, 0.9129),
]


@pytest.mark.parametrize(("f", "k_h", "a_h", "k_v", "a_v"), PUBLISHED)
def test_coefficients_match_the_published_table(f, k_h, a_h, k_v, a_v):
    assert rain_coefficients(f, tilt_deg=0) == pytest.approx((k_h, a_h), rel=5e-4)
    assert rain_coefficients(f, tilt_deg=90) == pytest.approx((k_v, a_v), rel=5e-4)


def test_attenuation_grows_with_rain_and_frequency():
    assert rain_attenuation_db_per_km(28, 0) == 0
    values = [rain_attenuation_db_per_km(28, r) for r in (1, 10, 50, 100)]
    assert values == sorted(values) and values[0] > 0
    assert rain_attenuation_db_per_km(60, 25) > rain_attenuation_db_per_km(28, 25)
    assert rain_power_gain(28, 50, 0.2) == pytest.approx(10 ** (-values[2] * 0.2 / 10))


def test_against_the_itur_package_when_installed():
    itur = pytest.importorskip("itur")
    for f, rate in ((28.0, 25.0), (10.0, 50.0), (60.0, 5.0)):
        reference = itur.models.itu838.rain_specific_attenuation(rate, f, 0, 45).value
        assert rain_attenuation_db_per_km(f, rate) == pytest.approx(reference, rel=1e-3)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rain_rate_mm_per_h": -1.0},
        {"rain_rate_mm_per_h": 5.0, "carrier_ghz": 0.5},
        {"rain_rate_mm_per_h": 5.0, "path_length_km": -0.1},
    ],
)
def test_bad_rain_parameters(kwargs):
    with pytest.raises(gainnet.GainnetError, match=r"rain|carrier_ghz|path_length_km"):
        gainnet.make_scenario("power-allocation", **kwargs)


def test_rain_scales_gains_and_is_detected_as_drift():
    dry = gainnet.make_scenario("power-allocation", preset="aigx-t1")
    wet = gainnet.make_scenario("power-allocation", preset="aigx-t1", rain_rate_mm_per_h=50.0)
    rng = gainnet.rng_for(0, "eval")
    np.testing.assert_allclose(
        wet.sample(5, gainnet.rng_for(0, "eval")).gains,
        dry.sample(5, rng).gains * wet.params.rain_factor(),
    )
    detector = KSDriftDetector(dry.observe(dry.sample(2000, gainnet.rng_for(0, "train"))), 200)
    assert detector.update(wet.observe(wet.sample(200, gainnet.rng_for(1, "drift")))).drifted
