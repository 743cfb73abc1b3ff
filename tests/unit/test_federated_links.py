"""Per-round wireless links and device times/energy of federated sites."""

from __future__ import annotations

import math

import pytest

from gainnet.federated.config import SiteSpec
from gainnet.federated.links import RoundLink, round_link, shannon_mbps
from gainnet.federated.selection import SiteReport
from gainnet.split.link import MAX_BANDWIDTH_MBPS, MIN_BANDWIDTH_MBPS, Link


def test_shannon_rate():
    assert shannon_mbps(1.0, 0.0) == 1.0  # log2(1 + 1)
    assert shannon_mbps(2.0, 10 * math.log10(3)) == pytest.approx(4.0, rel=1e-12)  # 2 log2(4)
    assert shannon_mbps(5.0, 30.0) == pytest.approx(5 * math.log2(1001), rel=1e-12)
    # kept inside what a Link accepts
    assert shannon_mbps(1.0, -200.0) == MIN_BANDWIDTH_MBPS
    assert shannon_mbps(1000.0, 3050.0) == pytest.approx(
        1000 * 30 * math.log2(10), rel=1e-9
    )  # 300 dB cap
    assert shannon_mbps(1e5, 300.0) == MAX_BANDWIDTH_MBPS  # 1e5 x 99.7 > 1e6


def hand_link() -> RoundLink:
    return RoundLink(
        snr_db=10.0,
        uplink=Link(8.0, 20.0),
        downlink=Link(16.0, 20.0),
        compute_steps_per_s=100.0,
        compute_power_w=2.0,
        tx_power_w=0.5,
    )


def test_round_link_times_and_energy_by_hand():
    link = hand_link()
    assert link.downlink_s(2_000_000) == pytest.approx(0.01 + 1.0, rel=1e-12)  # 16 Mbit / 16
    assert link.uplink_s(1_000_000) == pytest.approx(0.01 + 1.0, rel=1e-12)  # 8 Mbit / 8
    assert link.compute_s(50) == 0.5
    assert link.round_s(2_000_000, 50, 1_000_000) == pytest.approx(2.52, rel=1e-12)
    # 2 W x 0.5 s of training + 0.5 W x 1 s of transmission (the RTT costs no energy)
    assert link.energy_j(50, 1_000_000) == pytest.approx(1.5, rel=1e-12)
    assert link.energy_j(0, 0) == 0.0
    assert link.round_s(0, 0, 0) == pytest.approx(0.02, rel=1e-12)


SITE = SiteSpec(
    name="s", mean_snr_db=12.0, downlink_gain_db=6.0, bandwidth_mhz=2.0, rtt_ms=30.0,
    compute_steps_per_s=40.0, compute_power_w=3.0, tx_power_w=0.3,
)  # fmt: skip


def test_round_link_is_deterministic_and_fades_from_round_to_round():
    first = round_link(SITE, 2, 1, seed=0)
    assert round_link(SITE, 2, 1, seed=0) == first
    others = [round_link(SITE, 2, r, seed=0) for r in range(2, 8)]
    assert len({first.snr_db, *(o.snr_db for o in others)}) == 7
    assert round_link(SITE, 3, 1, seed=0).snr_db != first.snr_db  # another site
    assert round_link(SITE, 2, 1, seed=1).snr_db != first.snr_db  # another seed


def test_round_link_rates_follow_the_site():
    for r in range(1, 6):
        link = round_link(SITE, 0, r, seed=4)
        assert link.uplink.bandwidth_mbps == shannon_mbps(2.0, link.snr_db)
        assert link.downlink.bandwidth_mbps == shannon_mbps(2.0, link.snr_db + 6.0)
        assert link.downlink.bandwidth_mbps > link.uplink.bandwidth_mbps
        assert link.uplink.rtt_ms == link.downlink.rtt_ms == 30.0
        assert (link.compute_steps_per_s, link.compute_power_w, link.tx_power_w) == (40, 3, 0.3)


def test_selection_predicts_what_the_link_costs():
    link = round_link(SITE, 1, 3, seed=2)
    report = SiteReport(
        site=1,
        num_examples=10.0,
        snr_db=link.snr_db,
        uplink_mbps=link.uplink.bandwidth_mbps,
        downlink_mbps=link.downlink.bandwidth_mbps,
        rtt_ms=SITE.rtt_ms,
        compute_steps_per_s=SITE.compute_steps_per_s,
        compute_power_w=SITE.compute_power_w,
        tx_power_w=SITE.tx_power_w,
        energy_left_j=-1.0,
        last_loss=-1.0,
        rounds_trained=0.0,
        last_round=0.0,
        data_age_rounds=3.0,
    )
    down, steps, up = 123_456, 25, 34_567
    assert report.predicted_round_s(down, up, steps) == pytest.approx(
        link.round_s(down, steps, up), rel=1e-12
    )
    assert report.predicted_energy_j(up, steps) == pytest.approx(
        link.energy_j(steps, up), rel=1e-12
    )
