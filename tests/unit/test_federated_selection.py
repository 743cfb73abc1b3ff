"""Client-selection policies on crafted site reports."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from gainnet.errors import GainnetError
from gainnet.federated.selection import FRESH_ROUNDS, RoundContext, SiteReport, select

MB = 10**6


def report(site: int, **changes: float) -> SiteReport:
    """A site with an 8 Mbit/s uplink, 16 Mbit/s downlink, 20 ms RTT, 100 steps/s, 2 W + 0.5 W,
    no energy budget, trained once with loss 1."""
    values = {
        "site": site,
        "num_examples": 100.0,
        "snr_db": 10.0,
        "uplink_mbps": 8.0,
        "downlink_mbps": 16.0,
        "rtt_ms": 20.0,
        "compute_steps_per_s": 100.0,
        "compute_power_w": 2.0,
        "tx_power_w": 0.5,
        "energy_left_j": -1.0,
        "last_loss": 1.0,
        "rounds_trained": 1.0,
        "last_round": 4.0,
        "data_age_rounds": 5.0,
    }
    return SiteReport(**{**values, **changes})


def context(m: int = 2, deadline_s: float = 100.0, **changes) -> RoundContext:
    """Round 5: 1 MB down, 0.5 MB up, 50 local steps."""
    values = {
        "round_index": 5,
        "clients_per_round": m,
        "model_bytes": MB,
        "up_bytes": MB // 2,
        "local_steps": 50,
        "deadline_s": deadline_s,
        "observed_round_s": {},
    }
    return RoundContext(**{**values, **changes})


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# --------------------------------------------------------------------- SiteReport
def test_predicted_round_time_and_energy_by_hand():
    r = report(0)
    # 20 ms RTT + 8 Mbit at 16 Mbit/s + 50 steps at 100/s + 4 Mbit at 8 Mbit/s
    assert r.predicted_round_s(MB, MB // 2, 50) == pytest.approx(0.02 + 0.5 + 0.5 + 0.5, rel=1e-12)
    # 2 W for 0.5 s of training + 0.5 W for 0.5 s of upload
    assert r.predicted_energy_j(MB // 2, 50) == pytest.approx(1.0 + 0.25, rel=1e-12)


def test_from_metrics_round_trip_and_refusals():
    metrics = {k: float(v) for k, v in dataclasses.asdict(report(3)).items()}
    assert SiteReport.from_metrics(metrics) == report(3)
    assert isinstance(SiteReport.from_metrics(metrics).site, int)
    for field in metrics:
        missing = {k: v for k, v in metrics.items() if k != field}
        with pytest.raises(GainnetError, match=field):
            SiteReport.from_metrics(missing)
        for bad in (math.nan, math.inf, "1.0", None):
            with pytest.raises(GainnetError, match=field):
                SiteReport.from_metrics({**metrics, field: bad})


# --------------------------------------------------------------------- simple policies
def test_no_reports_no_selection():
    for policy in ("all", "random", "deadline", "power-of-choice", "oort", "gainnet"):
        assert select(policy, [], context(), rng()) == []


def test_all_returns_every_offered_site():
    reports = [report(s) for s in (7, 2, 5, 0)]
    assert select("all", reports, context(m=1), rng()) == [0, 2, 5, 7]


def test_random_returns_m_distinct_offered_sites_reproducibly():
    reports = [report(s) for s in (1, 3, 4, 6, 8, 9)]
    picks = set()
    for seed in range(20):
        chosen = select("random", reports, context(m=3), rng(seed))
        assert len(chosen) == 3 == len(set(chosen)) and chosen == sorted(chosen)
        assert set(chosen) <= {1, 3, 4, 6, 8, 9}
        assert select("random", reports, context(m=3), rng(seed)) == chosen
        picks.add(tuple(chosen))
    assert len(picks) > 1
    # m larger than the sites offered: every one of them
    assert select("random", reports[:2], context(m=5), rng()) == [1, 3]


def test_deadline_keeps_every_site_that_fits():
    # uplink rates 8, 4, 2, 1, 0.5 Mbit/s: round times 1.52, 2.02, 3.02, 5.02, 9.02 s
    rates = [1.0, 8.0, 0.5, 4.0, 2.0]
    reports = [report(i, uplink_mbps=r) for i, r in enumerate(rates)]
    times = [r.predicted_round_s(MB, MB // 2, 50) for r in reports]
    assert times == pytest.approx([5.02, 1.52, 9.02, 2.02, 3.02])
    assert select("deadline", reports, context(m=1, deadline_s=3.1), rng()) == [1, 3, 4]
    assert select("deadline", reports, context(m=1, deadline_s=3.02), rng()) == [1, 3, 4]
    assert select("deadline", reports, context(m=2, deadline_s=1.0), rng()) == []
    assert select("deadline", reports, context(m=2, deadline_s=60), rng()) == [0, 1, 2, 3, 4]


def test_power_of_choice_prefers_untrained_then_high_loss():
    # N = 2m: every site is a candidate, so the choice does not depend on the draw
    losses = [0.2, 0.9, -1.0, 0.1, 0.5, 0.4]
    reports = [report(i, last_loss=x, num_examples=50.0 + 10 * i) for i, x in enumerate(losses)]
    for seed in range(5):
        assert select("power-of-choice", reports, context(m=3), rng(seed)) == [1, 2, 4]
    two_new = [report(i, last_loss=x) for i, x in enumerate([0.3, -1.0, 5.0, -1.0])]
    assert select("power-of-choice", two_new, context(m=2), rng()) == [1, 3]


def test_unknown_policy():
    with pytest.raises(GainnetError, match="unknown selection"):
        select("fastest", [report(0)], context(), rng())


# --------------------------------------------------------------------- oort and gainnet
def test_oort_penalises_a_site_slower_than_the_deadline():
    reports = [report(0), report(1)]  # equal statistical utility, both tried
    slow_first = context(m=1, deadline_s=5.0, observed_round_s={0: 20.0, 1: 2.0})
    assert select("oort", reports, slow_first, rng()) == [1]
    slow_second = context(m=1, deadline_s=5.0, observed_round_s={0: 2.0, 1: 20.0})
    assert select("oort", reports, slow_second, rng()) == [0]
    # a mild penalty, (5/6)^2, is outweighed by 20 times the loss
    reports = [report(0, last_loss=20.0), report(1)]
    mild = context(m=1, deadline_s=5.0, observed_round_s={0: 6.0, 1: 2.0})
    assert select("oort", reports, mild, rng()) == [0]


def test_oort_and_gainnet_pick_highest_utility_when_all_are_fast():
    reports = [report(i, last_loss=x) for i, x in enumerate([0.5, 3.0, 1.0, 2.0])]
    for policy in ("oort", "gainnet"):
        assert select(policy, reports, context(m=2), rng()) == [1, 3]


def test_gainnet_skips_a_site_that_cannot_pay_for_the_round():
    need = report(0).predicted_energy_j(MB // 2, 50)  # 1.25 J
    reports = [
        report(0, last_loss=9.0, energy_left_j=0.9 * need),  # best utility, not enough energy
        report(1, last_loss=1.0, energy_left_j=need),  # just enough
        report(2, last_loss=2.0),  # unlimited
        report(3, last_loss=0.5, energy_left_j=0.0),  # spent
    ]
    assert select("gainnet", reports, context(m=2), rng()) == [1, 2]
    assert select("oort", reports, context(m=2), rng()) == [0, 2]  # blind to energy
    # nobody can pay: gainnet falls back to every site rather than selecting none
    broke = [report(i, energy_left_j=0.0, last_loss=float(i)) for i in range(3)]
    assert select("gainnet", broke, context(m=2), rng()) == [1, 2]


def test_gainnet_prefers_the_better_channel_of_this_round():
    # equal utility and the same usual links (1.52 s rounds, slower than the 1 s preferred
    # round); this round one site's links are 10 times faster: gainnet picks it
    usual = report(0).predicted_round_s(MB, MB // 2, 50)
    typical = {0: usual, 1: usual}
    reports = [report(0), report(1, uplink_mbps=80.0, downlink_mbps=160.0)]
    assert select("gainnet", reports, context(1, 1.0, typical_round_s=typical), rng()) == [1]
    reports = [report(0, uplink_mbps=80.0, downlink_mbps=160.0), report(1)]
    assert select("gainnet", reports, context(1, 1.0, typical_round_s=typical), rng()) == [0]
    # oort reads last round's observed times instead: site 0 was slow then, so it picks 1
    observed = context(1, 1.0, observed_round_s={0: 10.0, 1: 2.0}, typical_round_s=typical)
    assert select("oort", reports, observed, rng()) == [1]
    assert select("gainnet", reports, observed, rng()) == [0]


def test_gainnet_boosts_a_site_whose_data_just_drifted():
    # round 5; site 1 drifted in round 4 (its data is 1 round old): utility 0.6 x 2 > 1.0
    fresh = [report(0, last_loss=1.0), report(1, last_loss=0.6, data_age_rounds=1.0)]
    assert select("gainnet", fresh, context(m=1), rng()) == [1]
    assert select("oort", fresh, context(m=1), rng()) == [0]
    # data as old as the federation (no drift), or drifted FRESH_ROUNDS or more rounds ago
    stale = [report(0, last_loss=1.0), report(1, last_loss=0.6, data_age_rounds=5.0)]
    assert select("gainnet", stale, context(m=1), rng()) == [0]
    old = [report(0, last_loss=1.0), report(1, last_loss=0.6, data_age_rounds=FRESH_ROUNDS)]
    assert select("gainnet", old, context(m=1, round_index=10), rng()) == [0]
    # in round 2 every site's data is 2 rounds old: nobody drifted, nobody is boosted
    early = [
        report(0, last_loss=1.0, data_age_rounds=2.0),
        report(1, last_loss=0.6, data_age_rounds=2.0),
    ]
    assert select("gainnet", early, context(m=1, round_index=2), rng()) == [0]


def test_gainnet_explores_the_fastest_untried_sites():
    # nobody trained yet: gainnet takes the fastest this round, oort a random draw
    rates = [1.0, 8.0, 0.5, 4.0, 2.0]
    reports = [
        report(i, uplink_mbps=r, rounds_trained=0.0, last_loss=-1.0) for i, r in enumerate(rates)
    ]
    slowest = max(r.predicted_round_s(MB, MB // 2, 50) for r in reports)
    typical = dict.fromkeys(range(5), slowest)  # all usually as slow as the slowest
    assert select("gainnet", reports, context(m=2, typical_round_s=typical), rng()) == [1, 3]
    for seed in range(5):
        chosen = select("oort", reports, context(m=2), rng(seed))
        assert len(chosen) == 2 == len(set(chosen))


@pytest.mark.parametrize(
    ("field", "value", "policy"),
    [
        ("uplink_mbps", 0.0, "deadline"),
        ("downlink_mbps", 0.0, "gainnet"),
        ("compute_steps_per_s", 0.0, "deadline"),
        ("num_examples", -1.0, "power-of-choice"),
    ],
)
def test_a_report_no_site_can_make_is_refused_or_harmless(field, value, policy):
    """A site's metrics are input from the network (Flower): a zero rate or a negative count
    must be refused by ``from_metrics`` (GainnetError), or at least not crash the policy."""
    metrics = {k: float(v) for k, v in dataclasses.asdict(report(0)).items()}
    try:
        bad = SiteReport.from_metrics({**metrics, field: value})
    except GainnetError:
        return
    select(policy, [bad, report(1), report(2), report(3)], context(m=2), rng())
