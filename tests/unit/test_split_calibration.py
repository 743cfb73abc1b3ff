"""Online calibration of the latency model: factors learned from live compute, online only."""

from __future__ import annotations

import math

import pytest
from test_split_latency import profile

from gainnet.errors import GainnetError
from gainnet.split.calibration import OnlineCalibration
from gainnet.split.link import Link

LINK = Link(bandwidth_mbps=10, rtt_ms=20)


def test_no_data_means_the_profile():
    cal = OnlineCalibration(profile())
    assert cal.factors() == {"device": 1.0, "server": 1.0}
    assert cal.predict(2, "int8", LINK) == pytest.approx(profile().predict(2, "int8", LINK))


def test_a_constant_slowdown_is_learned_exactly_and_scales_only_compute():
    p = profile()
    cal = OnlineCalibration(p, halflife_requests=3)
    for split in (0, 1, 2, 3, 4, 2, 1):  # any split: the factor is per side
        cal.observe(split, "fp16", 1.3 * p.device_s(split, "fp16"), 1.1 * p.server_s(split, "fp16"))
    assert cal.factors()["device"] == pytest.approx(1.3)
    assert cal.factors()["server"] == pytest.approx(1.1)
    base, scaled = p.predict(3, "int8", LINK), cal.predict(3, "int8", LINK)
    assert scaled["device_s"] == pytest.approx(1.3 * base["device_s"])
    assert scaled["server_s"] == pytest.approx(1.1 * base["server_s"])
    for part in ("uplink_s", "rtt_s", "downlink_s"):
        assert scaled[part] == base[part]
    assert scaled["total_s"] == pytest.approx(sum(v for k, v in scaled.items() if k != "total_s"))


def test_recent_requests_weigh_more():
    p = profile()
    cal = OnlineCalibration(p, halflife_requests=2)
    for _ in range(20):
        cal.observe(2, "fp32", 2.0 * p.device_s(2, "fp32"), p.server_s(2, "fp32"))
    for _ in range(10):  # the machine speeds up: five half-lives later the old data hardly counts
        cal.observe(2, "fp32", 1.0 * p.device_s(2, "fp32"), p.server_s(2, "fp32"))
    assert 1.0 < cal.factors()["device"] < 1.0 + 0.5**5 + 1e-9


def test_big_requests_weigh_more_than_small_ones():
    """A fixed 1 ms the profile misses: the factor follows the seconds, not the request count."""
    p = profile(device_layer=0.010)
    cal = OnlineCalibration(p, halflife_requests=1000)
    for split in (0, 4) * 20:
        cal.observe(split, "fp32", p.device_s(split, "fp32") + 0.001, p.server_s(split, "fp32"))
    total = p.device_s(0, "fp32") + p.device_s(4, "fp32")
    assert cal.factors()["device"] == pytest.approx((total + 0.002) / total, rel=1e-3)


def test_the_raw_split_leaves_the_device_factor_alone():
    p = profile()
    cal = OnlineCalibration(p)
    cal.observe(-1, "fp32", 0.0, 2.0 * p.server_s(-1, "fp32"))
    assert cal.factors()["device"] == 1.0
    assert cal.factors()["server"] == pytest.approx(2.0)
    assert cal.observed == 1


@pytest.mark.parametrize("bad", [math.nan, -0.1, math.inf, "1"])
def test_bad_measurements_are_refused_and_change_nothing(bad):
    cal = OnlineCalibration(profile())
    with pytest.raises(GainnetError, match="measured"):
        cal.observe(2, "fp32", bad, 0.01)
    assert cal.factors() == {"device": 1.0, "server": 1.0} and cal.observed == 0


@pytest.mark.parametrize("halflife", [0, -1, math.nan, "3"])
def test_bad_halflife_is_refused(halflife):
    with pytest.raises(GainnetError, match="halflife"):
        OnlineCalibration(profile(), halflife_requests=halflife)
