"""Stackelberg split pricing: best responses, switching prices and the exact leader optimum."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gainnet
from gainnet.games.split_pricing import (
    best_response,
    layer_values,
    leader_optimum,
    server_utility,
    switching_prices,
)

A_MS, B_MS, L = 12.5, 10.5, 12


def population(seed: int, n: int, devices: int):
    rng = np.random.default_rng(seed)
    beta = rng.uniform(0.5, 8.0, (n, devices))
    capacity = rng.uniform(0.0, 180.0, (n, devices))
    return beta, capacity, layer_values(beta, capacity, A_MS, B_MS, L)


def follower_utility(price, layers, beta, capacity):
    """U_n; -inf where the layers exceed the budget."""
    cost = np.where(layers == 0, 0.0, A_MS * layers + B_MS)
    slack = 1 + capacity - cost
    feasible = cost <= capacity
    return np.where(
        feasible, price * layers + beta * np.log(np.where(feasible, slack, 1.0)), -np.inf
    )


@given(seed=st.integers(0, 10**6), price=st.floats(0.0, 3.0))
def test_best_response_matches_the_closed_form(seed, price):
    """For l >= 1 the utility is concave with stationary point l* = (1 + C - b)/a - beta/p;
    the integer optimum is floor or ceil of l* within [1, l_max], else l = 0 if better."""
    beta, capacity, values = population(seed, 1, 30)
    got = best_response(np.array([price]), values)[0]
    l_max = np.clip(np.floor((capacity[0] - B_MS) / A_MS), 0, L).astype(int)
    with np.errstate(divide="ignore", over="ignore"):
        star = (1 + capacity[0] - B_MS) / A_MS - beta[0] / price
    for n in range(30):
        options = [0]
        if l_max[n] >= 1:
            for cand in (np.floor(star[n]), np.ceil(star[n]), 1, l_max[n]):
                if np.isfinite(cand):
                    options.append(int(np.clip(cand, 1, l_max[n])))
        payoff = [follower_utility(price, k, beta[0, n], capacity[0, n]) for k in options]
        best = max(payoff)
        expected = max(k for k, u in zip(options, payoff, strict=True) if u >= best - 1e-12)
        assert got[n] == expected or np.isclose(
            follower_utility(price, got[n], beta[0, n], capacity[0, n]), best, atol=1e-9
        )
        assert got[n] <= l_max[n]


def test_no_follower_gains_by_deviating():
    beta, capacity, values = population(1, 50, 20)
    price = leader_optimum(values, 0.5, 1.0)
    layers = best_response(price, values)
    chosen = follower_utility(price[:, None], layers, beta, capacity)
    for deviation in range(L + 1):
        cost = 0.0 if deviation == 0 else A_MS * deviation + B_MS
        feasible = cost <= capacity
        other = follower_utility(price[:, None], np.full_like(layers, deviation), beta, capacity)
        assert np.all(chosen[feasible] >= other[feasible] - 1e-12)


def test_switching_prices_are_increasing_and_sum_to_the_layers():
    _, capacity, values = population(2, 40, 15)
    prices, jumps = switching_prices(values)
    finite = np.isfinite(prices)
    # finite prices come first in each row, strictly increasing
    assert np.all(finite[..., :-1] | ~finite[..., 1:])
    both = finite[..., 1:] & finite[..., :-1]
    assert np.all((prices[..., 1:] - np.where(finite, prices, 0.0)[..., :-1])[both] > 0)
    assert np.all(jumps[finite] >= 1) and np.all(jumps[~finite] == 0)
    l_max = np.clip(np.floor((capacity - B_MS) / A_MS), 0, L)
    # far above every switching price, each device runs all it can
    assert np.array_equal(best_response(np.full(40, 1e9), values), l_max)
    assert np.array_equal(jumps.sum(-1), l_max)


@settings(max_examples=40)
@given(
    seed=st.integers(0, 10**6),
    devices=st.integers(2, 12),
    theta=st.floats(0.05, 2.0),
)
def test_leader_optimum_beats_a_fine_price_grid(seed, devices, theta):
    *_, values = population(seed, 4, devices)
    revenue, price_max = theta * devices * L, 2.0
    exact = leader_optimum(values, theta, price_max)
    assert np.all((exact >= 0) & (exact <= price_max))
    best = server_utility(exact, best_response(exact, values), revenue, theta, L)
    grid = np.linspace(0.0, price_max, 4001)
    on_grid = np.stack(
        [server_utility(g, best_response(np.full(4, g), values), revenue, theta, L) for g in grid]
    )
    # no price does better (up to the tie margin), and the grid comes close
    assert np.all(best >= on_grid.max(0) - 1e-6)
    step_loss = (grid[1] - grid[0]) * devices * L
    assert np.all(best <= on_grid.max(0) + step_loss + 1e-6)


def test_the_expert_through_the_scenario_api():
    scenario = gainnet.make_scenario("stackelberg-split", num_devices=200)
    state = scenario.sample(3, gainnet.rng_for(0, "eval"))
    price = scenario.default_expert().solve(state)
    assert price.shape == (3, 1) and scenario.is_feasible(state, price).all()
    u_star = scenario.utility(state, price)
    for other in (0.0, 0.1, 0.25, 0.49, 0.75):
        assert np.all(u_star >= scenario.utility(state, np.full((3, 1), other)) - 1e-6)
    assert np.all(u_star > 0)


def test_profile_file_sets_the_cost(tmp_path):
    import json

    from gainnet.split.latency import PROFILE_FORMAT

    side = {"input_s": 0.002, "layer_s": [0.004] * 3, "head_s": 0.0, "encode_s": {}, "decode_s": {}}
    profile = {
        "format": PROFILE_FORMAT, "num_layers": 3, "device": side, "server": side,
        "request_bytes": {}, "reply_bytes": 0,
    }  # fmt: skip
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile))
    scenario = gainnet.make_scenario("stackelberg-split", profile_path=str(path), num_layers=3)
    assert scenario.params.cost_a_ms_per_layer == pytest.approx(4.0)
    assert scenario.params.cost_b_ms == pytest.approx(2.0)
    with pytest.raises(gainnet.GainnetError):
        gainnet.make_scenario("stackelberg-split", profile_path=str(tmp_path / "missing.json"))
    with pytest.raises(gainnet.GainnetError):
        gainnet.make_scenario("stackelberg-split", information="partial")
