"""The ``iscc-matching`` scenario and its ``iscc-milp`` expert: the MILP against brute force,
always-feasible decoding and greedy, feasibility checks, the time limit, and bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import gainnet
from gainnet.errors import InvalidConfigError, InvalidDecisionError, InvalidStateError
from gainnet.scenarios.iscc_matching import FIELDS

#: 4 requests, 2 nodes and pools tight enough that they bind
TIGHT = {
    "num_requests": 4,
    "num_nodes": 2,
    "node_compute_flops_range": [10e12, 60e12],
    "node_bandwidth_hz_range": [0.5e6, 4e6],
    "node_memory_gb_range": [0.5, 1.5],
    "snr_per_hz_log10_range": [5.0, 7.0],
}


def arrays_of(state) -> dict[str, np.ndarray]:
    return {name: getattr(state, name).copy() for name in FIELDS}


def brute_force(scenario, state) -> np.ndarray:
    """``[n]``: the best value over every assignment (reject, or any node and level)."""
    r_count, s_count = scenario.params.num_requests, scenario.params.num_nodes
    options = [(-1, -1)] + [(s, q) for s in range(s_count) for q in range(3)]
    every = np.array(list(itertools.product(options, repeat=r_count)), dtype=float)
    best = []
    for i in range(len(state)):
        one = state.take(np.full(len(every), i))
        value = np.where(scenario.is_feasible(one, every), scenario.utility(one, every), -np.inf)
        best.append(value.max())
    return np.array(best)


def test_the_milp_is_the_brute_force_optimum_and_the_pools_bind():
    scenario = gainnet.make_scenario("iscc-matching", **TIGHT)
    state = scenario.sample(12, gainnet.rng_for(0, "test"))
    expert = scenario.default_expert()
    decision = expert.solve(state)
    assert scenario.is_feasible(state, decision).all()
    exact = brute_force(scenario, state)
    np.testing.assert_allclose(scenario.utility(state, decision), exact, rtol=1e-9)
    assert all(result.optimal for result in expert.last)
    assert all(result.bound >= result.value - 1e-9 for result in expert.last)
    everything = scenario.demands(state).value[..., 2].sum(axis=1)
    assert (exact < everything - 1e-9).mean() >= 0.5  # the pools do bind


def test_greedy_and_decoded_actions_are_feasible_and_below_the_milp():
    scenario = gainnet.make_scenario("iscc-matching")
    state = scenario.sample(8, gainnet.rng_for(1, "test"))
    optimum = scenario.utility(state, scenario.default_expert().solve(state))
    greedy = gainnet.make_solver("greedy", scenario, seed=0).decide(state)
    rng = gainnet.rng_for(2, "test")
    attacker = rng.normal(0, 1e6, (8, scenario.action_dim))
    attacker[0, :5] = np.nan
    attacker[1, 3:9] = np.inf
    attacker[2] = -np.inf
    for decision in (greedy, scenario.decode(state, attacker)):
        assert scenario.is_feasible(state, decision).all()
        assert (scenario.utility(state, decision) <= optimum + 1e-9).all()
    # greedy is a real baseline: within 20 % of the optimum on average here
    assert scenario.utility(state, greedy).mean() >= 0.8 * optimum.mean()


def test_is_feasible_catches_each_kind_of_violation():
    scenario = gainnet.make_scenario("iscc-matching", **TIGHT)
    state = scenario.sample(1, gainnet.rng_for(3, "test"))
    need = scenario.demands(state)
    every_on_top = np.zeros((1, 4, 2))
    every_on_top[..., 1] = 2  # everything at the top level on node 0
    rejected = np.full((1, 4, 2), -1.0)
    assert scenario.is_feasible(state, rejected).all()
    half = rejected.copy()
    half[0, 0] = [0, 0.5]  # a fractional level
    outside = rejected.copy()
    outside[0, 0] = [2, 0]  # node 2 of 2
    no_level = rejected.copy()
    no_level[0, 0] = [0, -1]  # served, but at no level
    for bad in (half, outside, no_level):
        assert not scenario.is_feasible(state, bad).any()
    total = need.compute_flops[0, :, 2].sum()
    if total > state.compute_flops[0, 0] or not need.allowed[0, :, 0].all():
        assert not scenario.is_feasible(state, every_on_top).any()
    with pytest.raises(InvalidDecisionError):
        scenario.is_feasible(state, np.zeros((1, 5, 2)))


def test_a_time_limited_milp_is_best_known_and_still_feasible():
    scenario = gainnet.make_scenario("iscc-matching", num_requests=60, num_nodes=6)
    state = scenario.sample(2, gainnet.rng_for(4, "test"))
    expert = gainnet.make_expert("iscc-milp", scenario, time_limit_s=0.01)
    decision = expert.solve(state)
    assert scenario.is_feasible(state, decision).all()
    assert not all(result.optimal for result in expert.last)
    assert all(result.bound >= result.value - 1e-9 for result in expert.last)


def test_a_hand_given_state_is_validated():
    scenario = gainnet.make_scenario("iscc-matching")
    good = arrays_of(scenario.sample(3, gainnet.rng_for(5, "test")))
    assert len(scenario.state(**good)) == 3
    for name, index, bad, message in [
        ("value", (1, 2), np.nan, "value"),
        ("deadline_s", (0, 0), -1.0, "deadline_s"),
        ("snr_per_hz", (0, 0, 0), 0.0, "snr_per_hz"),
        ("service", (2, 1), 3.0, "service"),
        ("service", (2, 1), 0.5, "service"),
        ("hosts", (0, 1, 1), 0.5, "hosts"),
        ("compute_flops", (1, 1), -5.0, "compute_flops"),
        ("memory_gb", (1, 1), np.inf, "memory_gb"),
    ]:
        broken = {k: v.copy() for k, v in good.items()}
        broken[name][index] = bad
        with pytest.raises(InvalidStateError, match=message):
            scenario.state(**broken)
    with pytest.raises(InvalidStateError, match="needs exactly"):
        scenario.state(**{k: v for k, v in good.items() if k != "hosts"})
    with pytest.raises(InvalidStateError):
        scenario.state(**(good | {"value": good["value"][:, :5]}))
    with pytest.raises(InvalidStateError):
        scenario.state(**(good | {"payload_bits": "lots"}))


def test_a_node_that_is_down_serves_nobody():
    scenario = gainnet.make_scenario("iscc-matching")
    arrays = arrays_of(scenario.sample(2, gainnet.rng_for(6, "test")))
    for name in ("bandwidth_hz", "compute_flops", "memory_gb"):
        arrays[name][:, 1] = 0.0
    state = scenario.state(**arrays)
    for decision in (
        scenario.default_expert().solve(state),
        gainnet.make_solver("greedy", scenario, seed=0).decide(state),
    ):
        assert scenario.is_feasible(state, decision).all()
        assert not (decision[..., 0] == 1).any()


def test_down_nodes_have_empty_pools_and_change_what_is_observed():
    up = gainnet.make_scenario("iscc-matching")
    down = gainnet.make_scenario("iscc-matching", down_nodes=[2])
    a, b = up.sample(5, gainnet.rng_for(8, "test")), down.sample(5, gainnet.rng_for(8, "test"))
    for pool_up, pool_down in zip(a.pools(), b.pools(), strict=True):
        assert (pool_down[:, 2] == 0).all() and (pool_up[:, 2] > 0).all()
        np.testing.assert_array_equal(pool_up[:, :2], pool_down[:, :2])
    decision = down.default_expert().solve(b)
    assert down.is_feasible(b, decision).all() and not (decision[..., 0] == 2).any()
    assert not np.array_equal(up.observe(a), down.observe(b))


def test_bad_parameters_are_refused():
    for params, message in [
        ({"service_mix": [1.0, 1.0]}, "service_mix"),
        ({"service_mix": [0.0, 0.0, 0.0]}, "service_mix"),
        ({"deadline_s_ranges": [2.0, 1.0, 2.0, 6.0, 0.05, 0.2]}, "deadline_s_ranges"),
        ({"value_range": [2.0, 1.0]}, "low <= high"),
        ({"num_requests": 10**6}, "num_requests"),
        ({"upload_share": 1.0}, "upload_share"),
        ({"fade_margin_db": np.nan}, "fade_margin_db"),
        ({"down_nodes": [3]}, "down_nodes"),
        ({"down_nodes": [1, 1]}, "down_nodes"),
        ({"down_nodes": [0.5]}, "down_nodes"),
        ({"down_nodes": [-1]}, "down_nodes"),
        ({"down_nodes": "all"}, "down_nodes"),
    ]:
        with pytest.raises(InvalidConfigError, match=message):
            gainnet.make_scenario("iscc-matching", **params)
    with pytest.raises(InvalidConfigError):
        gainnet.make_expert("iscc-milp", gainnet.make_scenario("iscc-matching"), time_limit_s=0)


def test_refine_never_lowers_the_value_stays_feasible_and_closes_most_of_greedys_gap():
    scenario = gainnet.make_scenario("iscc-matching", **TIGHT)
    state = scenario.sample(40, gainnet.rng_for(5, "test"))
    exact = brute_force(scenario, state)
    rng = gainnet.rng_for(6, "test")
    starts = [
        scenario.greedy(state),
        scenario.decode(state, np.ones((40, scenario.action_dim))),
        scenario.decode(state, rng.normal(size=(40, scenario.action_dim))),
    ]
    for start in starts:
        refined = scenario.refine(state, start, 5)
        assert scenario.is_feasible(state, refined).all()
        before, after = scenario.utility(state, start), scenario.utility(state, refined)
        assert (after >= before - 1e-12).all()
        assert (after <= exact + 1e-9).all()
        # the two moves close most of what the start leaves
        assert after.mean() >= before.mean() + 0.5 * (exact - before).mean()
    # a one-pass refinement is the same as the first pass of a longer one
    one = scenario.refine(state, starts[0], 1)
    assert (
        scenario.utility(state, scenario.refine(state, one, 4))
        >= scenario.utility(state, one) - 1e-12
    ).all()


def test_refine_refuses_bad_decisions_and_counts():
    scenario = gainnet.make_scenario("iscc-matching", **TIGHT)
    state = scenario.sample(2, gainnet.rng_for(7, "test"))
    everything_on_node_0 = np.zeros((2, 4, 2))
    everything_on_node_0[..., 1] = 2
    with pytest.raises(InvalidDecisionError, match="feasible"):
        scenario.refine(state, everything_on_node_0, 3)
    rejected = np.full((2, 4, 2), -1.0)
    for bad in (0, -1, 10**9, "3", 2.5):
        with pytest.raises(gainnet.GainnetError, match="refine iterations"):
            scenario.refine(state, rejected, bad)
    with pytest.raises(gainnet.GainnetError):
        scenario.refine(state, np.full((2, 3, 2), -1.0), 3)
    with pytest.raises(gainnet.GainnetError):
        scenario.refine(state, np.full((2, 4, 2), np.nan), 3)
