"""The ``power-allocation`` scenario: sampling, maths against hand values, the action encoding,
and errors that teach."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import gainnet
from gainnet.scenarios.power_allocation import PRESETS, PowerAllocationState


@pytest.fixture
def rng() -> np.random.Generator:
    return gainnet.rng_for(12345, "test")


@pytest.fixture(params=sorted(PRESETS))
def preset_scenario(request) -> gainnet.Scenario:
    return gainnet.make_scenario("power-allocation", preset=request.param)


# ----------------------------------------------------------------------------- sampling


@pytest.mark.parametrize(
    ("preset", "m", "low", "high"),
    [
        ("gdmopt", 10, [1.0] * 5 + [0.0] * 5, [2.0] * 5 + [1.0] * 5),
        ("aigx-t1", 20, [5.0] * 10 + [3.0] * 10, [8.0] * 10 + [6.0] * 10),
        ("aigx-t2", 20, [1.0] * 20, [7.0] * 20),
    ],
)
def test_sample_shapes_and_ranges_per_preset(preset, m, low, high):
    scenario = gainnet.make_scenario("power-allocation", preset=preset)
    assert scenario.observation_dim == scenario.action_dim == m
    state = scenario.sample(4000, gainnet.rng_for(0, "test"))
    assert isinstance(state, PowerAllocationState)
    assert state.gains.shape == (4000, m) and state.gains.dtype == np.float64
    assert len(state) == 4000
    assert np.all(state.gains >= low) and np.all(state.gains < high)
    # U(low, high) per channel: with 4000 draws the sample mean is within 5 standard errors
    # ((high - low) / sqrt(12 * 4000) ~ 0.0046 (high - low)) of the midpoint
    low, high = np.array(low), np.array(high)
    assert np.all(np.abs(state.gains.mean(axis=0) - (low + high) / 2) < 0.023 * (high - low))


def test_sample_uses_only_the_given_generator(gdmopt):
    a = gdmopt.sample(5, gainnet.rng_for(3, "train"))
    b = gdmopt.sample(5, gainnet.rng_for(3, "train"))
    c = gdmopt.sample(5, gainnet.rng_for(4, "train"))
    np.testing.assert_array_equal(a.gains, b.gains)
    assert not np.any(a.gains == c.gains)


def test_sample_rejects_empty_batches(gdmopt):
    with pytest.raises(gainnet.GainnetError, match="instances to sample"):
        gdmopt.sample(0, gainnet.rng_for(0, "test"))


def test_presets_are_what_the_papers_use():
    assert set(PRESETS) == {"gdmopt", "aigx-t1", "aigx-t2"}
    gdmopt = gainnet.make_scenario("power-allocation", preset="gdmopt")
    assert gdmopt.params.total_power_w == 3.0 and gdmopt.params.noise_power_w == 1.0
    # the defaults are the GDMOPT problem
    assert gainnet.make_scenario("power-allocation").config() == gdmopt.config()


# ----------------------------------------------------------------------------- maths


def test_utility_by_hand():
    scenario = gainnet.make_scenario(
        "power-allocation", num_channels=3, gain_low=0.0, gain_high=4.0, noise_power_w=0.5
    )
    state = scenario.state([[1.0, 3.0, 0.0], [2.0, 2.0, 2.0]])
    decision = np.array([[0.5, 2.5, 0.0], [1.0, 1.0, 1.0]])
    # row 0: log2(1 + 1*0.5/0.5) + log2(1 + 3*2.5/0.5) + 0 = 1 + 4 = 5
    # row 1: 3 * log2(1 + 2*1/0.5) = 3 log2(5)
    np.testing.assert_allclose(
        scenario.utility(state, decision), [5.0, 3 * np.log2(5.0)], rtol=1e-15
    )
    assert scenario.utility(state, decision).dtype == np.float64


def test_observation_is_the_gains_as_float32(gdmopt, rng):
    state = gdmopt.sample(8, rng)
    obs = gdmopt.observe(state)
    assert obs.dtype == np.float32 and obs.shape == (8, 10)
    np.testing.assert_array_equal(obs, state.gains.astype(np.float32))


def test_is_feasible_accepts_the_expert_and_equal_power(gdmopt, rng):
    state = gdmopt.sample(50, rng)
    assert gdmopt.is_feasible(state, gdmopt.default_expert().solve(state)).all()
    assert gdmopt.is_feasible(state, np.full((50, 10), 0.3)).all()


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda d: d.__setitem__((0, 0), d[0, 0] + 0.01), "over budget"),
        (lambda d: d.__setitem__((0, 0), d[0, 0] - 0.01), "under budget"),
        (lambda d: (d.__setitem__((0, 0), -0.1), d.__setitem__((0, 1), d[0, 1] + 0.1)), "neg"),
        (lambda d: d.__setitem__((0, 3), np.nan), "NaN"),
        (lambda d: d.__setitem__((0, 3), np.inf), "inf"),
    ],
)
def test_is_feasible_catches(change, why, gdmopt):
    state = gdmopt.state(np.full((2, 10), 1.5))
    decision = np.full((2, 10), 0.3)
    change(decision)
    assert gdmopt.is_feasible(state, decision).tolist() == [False, True], why


def test_is_feasible_and_utility_reject_wrong_shapes(gdmopt, rng):
    state = gdmopt.sample(3, rng)
    with pytest.raises(gainnet.InvalidDecisionError, match=r"\[n, 10\]"):
        gdmopt.is_feasible(state, np.full((3, 9), 0.3))
    with pytest.raises(gainnet.InvalidDecisionError):
        gdmopt.utility(state, np.full((2, 10), 0.3))
    with pytest.raises(gainnet.InvalidDecisionError, match="NaN"):
        gdmopt.utility(state, np.full((3, 10), np.nan))


# ----------------------------------------------------------------------------- decode / encode

actions = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6).map(lambda s: (s[0], 10)),
    elements=st.floats(allow_nan=True, allow_infinity=True),
)


@given(actions)
def test_decode_is_always_feasible(action):
    scenario = gainnet.make_scenario("power-allocation", preset="gdmopt")
    state = scenario.state(np.ones((action.shape[0], 10)))
    decision = scenario.decode(state, action)
    assert decision.shape == action.shape
    assert scenario.is_feasible(state, decision).all()
    assert np.all(decision >= 0)
    # a channel is switched off exactly by a non-positive (or NaN / -inf) entry, unless every
    # entry is: then the power is shared equally
    off = ~(np.nan_to_num(action, nan=0.0, neginf=0.0) > 0)
    some_on = ~off.all(axis=1)
    assert np.all(decision[some_on][off[some_on]] == 0.0)


def test_decode_of_all_negative_rows_is_equal_power(gdmopt):
    state = gdmopt.state(np.ones((3, 10)))
    action = np.array([[-1.0] * 10, [0.0] * 10, [-np.inf] * 5 + [np.nan] * 5])
    np.testing.assert_allclose(gdmopt.decode(state, action), 0.3, rtol=1e-15)


def test_decode_by_hand(gdmopt):
    state = gdmopt.state(np.ones((1, 10)))
    action = np.array([[2.0, 1.0, -3.0] + [0.0] * 7])
    np.testing.assert_allclose(gdmopt.decode(state, action), [[2.0, 1.0] + [0.0] * 8], rtol=1e-15)


def test_decode_huge_finite_actions_stay_feasible(gdmopt):
    # a real action whose sum overflows float64 must still decode to a feasible decision
    state = gdmopt.state(np.ones((2, 10)))
    action = np.array([[1e308] * 10, [1e308, 1e308] + [-1.0] * 8])
    decision = gdmopt.decode(state, action)
    assert gdmopt.is_feasible(state, decision).all()
    np.testing.assert_allclose(decision[0], 0.3, rtol=1e-12)
    np.testing.assert_allclose(decision[1], [1.5, 1.5] + [0.0] * 8, rtol=1e-12)


def test_decode_rejects_wrong_action_shape(gdmopt):
    state = gdmopt.state(np.ones((2, 10)))
    with pytest.raises(gainnet.InvalidDecisionError, match=r"\[n, 10\]"):
        gdmopt.decode(state, np.ones((2, 9)))
    with pytest.raises(gainnet.InvalidDecisionError):
        gdmopt.decode(state, np.ones(10))


def test_encode_round_trips_expert_decisions_with_exact_zeros(preset_scenario):
    """Pitfall 3: the encoding must express switched-off channels *exactly*."""
    scenario = preset_scenario
    state = scenario.sample(500, gainnet.rng_for(1, "test"))
    expert = scenario.default_expert().solve(state)
    zeros = expert == 0.0
    assert zeros.any(), "the presets switch channels off in many instances"
    action = scenario.encode(state, expert)
    assert action.shape == (500, scenario.action_dim) and np.all(np.isfinite(action))
    # the action is bounded (a good imitation target): in [-1, 1], max exactly 1
    assert np.all(action >= -1.0) and np.all(action <= 1.0)
    np.testing.assert_array_equal(action.max(axis=1), 1.0)
    assert np.all(action[zeros] <= 0.0)
    assert np.all(action[~zeros] > 0.0)
    decoded = scenario.decode(state, action)
    np.testing.assert_allclose(decoded, expert, rtol=0, atol=1e-12)
    assert np.all(decoded[zeros] == 0.0), "switched-off channels must stay exactly off"
    np.testing.assert_allclose(
        scenario.utility(state, decoded), scenario.utility(state, expert), rtol=1e-13
    )


def test_encode_is_continuous_at_the_switch_off_point():
    # two channels, P = N0 = 1: the weaker one is on iff mu_2 = (1 + 1/g_1 + 1/g_2) / 2 > 1/g_2,
    # i.e. g_2 > 1 / (1 + 1/g_1). The encoded action crosses 0 continuously there.
    scenario = gainnet.make_scenario(
        "power-allocation",
        num_channels=2,
        gain_low=0.0,
        gain_high=4.0,
        total_power_w=1.0,
        noise_power_w=1.0,
    )
    g1 = 2.0
    threshold = 1.0 / (1.0 + 1.0 / g1)
    g2 = threshold + np.array([-1e-6, 1e-6])
    state = scenario.state(np.stack([np.full(2, g1), g2], axis=1))
    action = scenario.encode(state, scenario.default_expert().solve(state))
    assert action[0, 1] <= 0.0 < action[1, 1]
    assert abs(action[0, 1] - action[1, 1]) < 1e-5


def test_encode_round_trips_arbitrary_feasible_decisions(gdmopt, rng):
    state = gdmopt.sample(20, rng)
    decision = gdmopt.decode(state, rng.uniform(-1, 1, size=(20, 10)))
    np.testing.assert_allclose(
        gdmopt.decode(state, gdmopt.encode(state, decision)), decision, rtol=0, atol=1e-12
    )


def test_all_zero_gains_round_trip(gdmopt):
    # every gain zero is a valid state: the expert shares power equally, and the encoding
    # must express that without NaN (or a floating-point warning)
    state = gdmopt.state(np.zeros((2, 10)))
    expert = gdmopt.default_expert().solve(state)
    np.testing.assert_allclose(expert, 0.3, rtol=1e-15)
    action = gdmopt.encode(state, expert)
    assert np.all(np.isfinite(action))
    np.testing.assert_allclose(gdmopt.decode(state, action), expert, rtol=1e-15)


def test_encode_rejects_all_zero_power(gdmopt):
    state = gdmopt.state(np.ones((1, 10)))
    with pytest.raises(gainnet.InvalidDecisionError, match="all-zero"):
        gdmopt.encode(state, np.zeros((1, 10)))


# ----------------------------------------------------------------------------- invalid states


@pytest.mark.parametrize(
    ("gains", "match"),
    [
        (np.full((2, 10), np.nan), "NaN"),
        (np.where(np.eye(2, 10) > 0, np.inf, 1.0), "infinite"),
        (np.where(np.eye(2, 10) > 0, -0.5, 1.0), ">= 0"),
        (np.ones((2, 11)), r"\[n, 10\]"),
        (np.ones((2, 10, 1)), r"\[n, 10\]"),
        (np.ones((0, 10)), "no instances"),
    ],
    ids=["nan", "inf", "negative", "too-many-channels", "3-d", "empty"],
)
def test_invalid_states_are_refused_everywhere(gains, match, gdmopt):
    bad = PowerAllocationState(gains=gains)
    for method in (
        gdmopt.validate_state,
        gdmopt.observe,
        lambda s: gdmopt.utility(s, np.full(s.gains.shape, 0.3)),
        lambda s: gdmopt.is_feasible(s, np.full(s.gains.shape, 0.3)),
        gdmopt.default_expert().solve,
    ):
        with pytest.raises(gainnet.InvalidStateError, match=match):
            method(bad)


def test_state_helper_accepts_one_instance_and_refuses_wrong_length(gdmopt):
    assert gdmopt.state(np.ones(10)).gains.shape == (1, 10)
    with pytest.raises(gainnet.InvalidStateError, match=r"\[n, 10\]"):
        gdmopt.state(np.ones(9))


def test_validate_state_refuses_other_state_types(gdmopt):
    with pytest.raises(gainnet.InvalidStateError, match="PowerAllocationState"):
        gdmopt.validate_state(object())


# ----------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"total_power_w": -1.0}, "total_power_w"),
        ({"total_power_w": 0.0}, "total_power_w"),
        ({"total_power_w": float("nan")}, "total_power_w"),
        ({"noise_power_w": 0.0}, "noise_power_w"),
        ({"gain_low": 2.0, "gain_high": 2.0}, "gain_high"),
        ({"gain_low": 3.0, "gain_high": 2.0}, "gain_high"),
        ({"gain_low": -1.0, "gain_high": 2.0}, "gain_low"),
        ({"gain_low": [0.0] * 9, "gain_high": 1.0}, "9 values"),
        ({"gain_high": (1.0, 2.0)}, "2 values"),
        ({"num_channels": 0}, "num_channels"),
        ({"num_channels": 2.5}, "num_channels"),
    ],
)
def test_invalid_parameters_raise(params, match):
    with pytest.raises(gainnet.GainnetError, match=match):
        gainnet.make_scenario("power-allocation", **params)


def test_list_parameters_become_tuples_and_round_trip_through_config():
    scenario = gainnet.make_scenario(
        "power-allocation", num_channels=2, gain_low=[0.5, 1.0], gain_high=[1.0, 3.0]
    )
    assert scenario.params.gain_low == (0.5, 1.0)
    config = scenario.config()
    assert config["name"] == "power-allocation" and config["version"] == 1
    rebuilt = gainnet.make_scenario(config["name"], **config["params"])
    assert rebuilt.config() == config


def test_unknown_parameter_lists_the_known_ones():
    with pytest.raises(gainnet.UnknownNameError) as info:
        gainnet.make_scenario("power-allocation", total_power=3.0)
    message = str(info.value)
    assert "'total_power'" in message and "power-allocation" in message
    for known in ("num_channels", "gain_low", "gain_high", "total_power_w", "noise_power_w"):
        assert known in message


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(gainnet.UnknownNameError) as info:
        gainnet.make_scenario("power-allocation", preset="aigx-t3")
    assert all(name in str(info.value) for name in PRESETS)


def test_preset_values_can_be_overridden():
    scenario = gainnet.make_scenario("power-allocation", preset="aigx-t2", total_power_w=1.0)
    assert scenario.params.total_power_w == 1.0 and scenario.params.num_channels == 20


def test_observation_in_db_keeps_the_problem():
    """observation_db observes 10 log10 of the gains; the utility, the torch utility (from the
    observation) and the expert's decisions are those of the linear observation."""
    import torch

    linear = gainnet.make_scenario("power-allocation", preset="aigx-t1")
    in_db = gainnet.make_scenario("power-allocation", preset="aigx-t1", observation_db=True)
    state = linear.sample(64, gainnet.rng_for(0, "eval"))
    np.testing.assert_allclose(in_db.observe(state), 10 * np.log10(state.gains), rtol=1e-6)
    decision = in_db.default_expert().solve(state)
    np.testing.assert_allclose(decision, linear.default_expert().solve(state))
    torch_rate = in_db.utility_torch(torch.from_numpy(in_db.observe(state)),
                                     torch.from_numpy(decision).float())  # fmt: skip
    np.testing.assert_allclose(torch_rate.numpy(), in_db.utility(state, decision), rtol=1e-4)
    low, _ = in_db.observation_bounds()
    assert (low < -1e30).all()  # unbounded below: a gain under 1 reads negative
