"""The interference channel: rates by hand, WMMSE's monotonicity and stationarity, agreement
with exhaustive search for K <= 3, the geometric layout, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gainnet
from gainnet.experts.wmmse import wmmse_iterate
from gainnet.wireless.interference import geometric_gains, sinr, sum_rate_ic_bps_per_hz


def scenario(k=3, **params):
    return gainnet.make_scenario("interference", num_users=k, **params)


def test_rates_by_hand():
    gains = np.array([[[2.0, 0.5], [1.0, 3.0]]])  # g_kj: transmitter j -> receiver k
    power = np.array([[1.0, 0.5]])
    # SINR_1 = 2*1 / (1 + 0.5*0.5) = 1.6; SINR_2 = 3*0.5 / (1 + 1*1) = 0.75
    np.testing.assert_allclose(sinr(gains, power, 1.0), [[1.6, 0.75]])
    expected = np.log2(2.6) + np.log2(1.75)
    np.testing.assert_allclose(sum_rate_ic_bps_per_hz(gains, power, 1.0), [expected])
    s = scenario(2)
    np.testing.assert_allclose(s.utility(s.state(gains[0]), power), [expected])


def test_encode_decode_round_trip_reaches_both_ends():
    s = scenario(4)
    state = s.sample(5, gainnet.rng_for(0, "eval"))
    power = np.array([[0.0, 1.0, 0.25, 0.999]] * 5)
    np.testing.assert_allclose(s.decode(state, s.encode(state, power)), power, atol=1e-15)
    assert np.all(s.decode(state, np.full((5, 4), -7.0)) == 0.0)
    assert np.all(s.decode(state, np.full((5, 4), 7.0)) == s.params.max_power_w)


def wmmse_trace(gains, start, noise=1.0, p_max=1.0, iterations=60):
    trace: list = []
    wmmse_iterate(gains, start, noise, p_max, iterations, trace=trace)
    return np.array(trace)


@settings(max_examples=40, deadline=None)
@given(
    k=st.integers(2, 8),
    seed=st.integers(0, 2**31),
    log_noise=st.floats(-2.0, 1.0),
    log_p=st.floats(-1.0, 1.0),
)
def test_wmmse_never_lowers_the_sum_rate(k, seed, log_noise, log_p):
    rng = np.random.default_rng(seed)
    gains = rng.exponential(1.0, (8, k, k))
    p_max = 10.0**log_p
    start = np.sqrt(p_max * rng.uniform(0, 1, (8, k)))
    trace = wmmse_trace(gains, start, 10.0**log_noise, p_max)
    steps = np.diff(trace, axis=0)
    assert np.all(steps >= -1e-9 * np.maximum(1.0, np.abs(trace[1:]))), steps.min()
    assert np.all(trace[-1] >= trace[0] - 1e-12)


def test_wmmse_ends_at_a_stationary_point():
    """KKT of max R(p) on the box: dR/dp_k <= 0 where p_k = 0, >= 0 where p_k = P_max,
    and ~0 in between (finite differences)."""
    s = scenario(5)
    state = s.sample(50, gainnet.rng_for(0, "eval"))
    power = gainnet.make_expert("wmmse", s, iterations=2000).solve(state)
    eps = 1e-6
    base = s.utility(state, power)
    for k in range(5):
        up = power.copy()
        up[:, k] = np.clip(up[:, k] + eps, 0, 1)
        down = power.copy()
        down[:, k] = np.clip(down[:, k] - eps, 0, 1)
        gradient = (s.utility(state, up) - s.utility(state, down)) / np.maximum(
            up[:, k] - down[:, k], 1e-300
        )
        interior = (power[:, k] > 1e-4) & (power[:, k] < 1 - 1e-4)
        assert np.all(np.abs(gradient[interior]) < 1e-3)
        assert np.all(gradient[power[:, k] <= 1e-4] <= 1e-3)
        assert np.all(gradient[power[:, k] >= 1 - 1e-4] >= -1e-3)
    assert np.all(np.isfinite(base))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_wmmse_agrees_with_exhaustive_search(k):
    s = scenario(k)
    state = s.sample(200, gainnet.rng_for(0, "eval"))
    grid = s.utility(state, gainnet.make_expert("exhaustive", s).solve(state))
    single = s.utility(state, gainnet.make_expert("wmmse", s).solve(state))
    restarts = s.utility(state, gainnet.make_expert("wmmse-restarts", s).solve(state))
    # WMMSE is continuous, the grid is not: it may beat the grid by a little, never by much
    assert np.all(restarts >= single - 1e-12)
    assert restarts.mean() >= 0.995 * grid.mean()
    assert np.mean(restarts >= grid - 1e-3 * grid) >= 0.95
    if k == 1:  # one user: full power is optimal and every expert finds it
        np.testing.assert_allclose(single, grid)


def test_exhaustive_finds_the_binary_optimum_of_two_users():
    """Two users: the optimum is binary (Gjendemsjoe et al. 2008); check against the 4 corners."""
    s = scenario(2)
    state = s.sample(300, gainnet.rng_for(1, "eval"))
    corners = np.array([[0, 1], [1, 0], [1, 1]], dtype=float)
    best_corner = np.max([s.utility(state, np.tile(c, (300, 1))) for c in corners], axis=0)
    grid = s.utility(state, gainnet.make_expert("exhaustive", s, levels=11).solve(state))
    np.testing.assert_allclose(grid, best_corner, rtol=1e-12)


def test_restarts_propose_ranked_local_optima():
    s = scenario(6)
    state = s.sample(40, gainnet.rng_for(0, "eval"))
    expert = gainnet.make_expert("wmmse-restarts", s)
    proposals = expert.propose(state, 4)
    assert proposals.shape == (4, 40, 6)
    rates = np.array([s.utility(state, p) for p in proposals])
    assert np.all(np.diff(rates, axis=0) <= 1e-12)
    np.testing.assert_allclose(proposals[0], expert.solve(state))
    assert all(s.is_feasible(state, p).all() for p in proposals)


def test_geometric_layout_is_physical():
    rng = np.random.default_rng(0)
    gains = geometric_gains(rng, 200, 10, 500.0, 10.0, 100.0, 15.3, 3.76, 0.0)
    direct = np.diagonal(gains, axis1=1, axis2=2)
    cross = gains[:, ~np.eye(10, dtype=bool)]
    # no shadowing: direct links (10-100 m) are far stronger than the typical cross link
    assert np.median(direct) > 100 * np.median(cross)
    # pathloss at 100 m is 15.3 + 37.6 * 2 = 90.5 dB; fading has mean 1
    assert 10 ** (-90.5 / 10) < direct.mean() < 10 ** (-52.9 / 10)
    s = gainnet.make_scenario("interference", preset="geometric-10")
    obs = s.observe(s.sample(16, gainnet.rng_for(0, "eval")))
    assert np.all(np.isfinite(obs)) and obs.max() < 40


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"num_users": 0}, "num_users"),
        ({"max_power_w": -1.0}, "max_power_w"),
        ({"noise_power_w": float("nan")}, "noise_power_w"),
        ({"layout": "hexagonal"}, "layout"),
        ({"pair_distance_min_m": 50.0, "pair_distance_max_m": 20.0}, "pair_distance"),
    ],
)
def test_bad_parameters_are_refused(params, match):
    with pytest.raises(gainnet.GainnetError, match=match):
        gainnet.make_scenario("interference", **params)


def test_bad_states_and_settings_are_refused():
    s = scenario(3)
    with pytest.raises(gainnet.InvalidStateError, match="shape"):
        s.state(np.ones((2, 3, 4)))
    with pytest.raises(gainnet.InvalidStateError, match=">= 0"):
        s.state(-np.ones((3, 3)))
    with pytest.raises(gainnet.InvalidStateError, match="NaN"):
        s.state(np.full((3, 3), np.nan))
    state = s.sample(2, gainnet.rng_for(0, "eval"))
    with pytest.raises(gainnet.InvalidDecisionError, match="shape"):
        s.utility(state, np.ones((2, 4)))
    with pytest.raises(gainnet.GainnetError, match="num_users <= 3"):
        gainnet.make_expert("exhaustive", scenario(4))
    with pytest.raises(gainnet.GainnetError, match="iterations"):
        gainnet.make_expert("wmmse", s, iterations=0)
    with pytest.raises(gainnet.UnknownNameError, match="iterations"):
        gainnet.make_expert("wmmse", s, iteration=5)
    with pytest.raises(gainnet.GainnetError, match="max-power"):
        gainnet.make_solver("max-power", gainnet.make_scenario("power-allocation"))


@pytest.mark.parametrize("tolerance", [1e-3, 1e-1])
def test_wmmse_tolerance_stops_each_instance_on_its_own(tolerance):
    """Sun et al.'s WMMSE stops one instance when an iteration gains <= tolerance; in a batch,
    every row must equal its instance run alone (a batch-wide stop would run early converged
    rows longer and late ones just as long, so rows would differ)."""
    s = scenario(10)
    state = s.sample(32, gainnet.rng_for(3, "eval"))
    wmmse = gainnet.make_expert("wmmse", s, tolerance=tolerance, iterations=500)
    batched = wmmse.solve(state)
    alone = np.concatenate([wmmse.solve(state.take(i)) for i in range(len(state))])
    np.testing.assert_allclose(batched, alone, rtol=0, atol=1e-12)
    # and the rows did stop at different iterations (the case a batch-wide stop gets wrong)
    rates = []
    wmmse_iterate(state.gains, np.ones((32, 10)), 1.0, 1.0, 500, tolerance, trace=rates)
    gains = np.diff(np.stack(rates), axis=0)
    stops = (gains > tolerance).argmin(axis=0)
    assert len(set(stops.tolist())) > 1
