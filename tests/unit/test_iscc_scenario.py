"""The ``iscc-slot`` scenario: sampling only feasible slots, the action encoding against the
exact expert, the differentiable decode, and errors that teach."""

from __future__ import annotations

import numpy as np
import pytest

import gainnet
from gainnet.errors import InvalidConfigError, InvalidStateError
from gainnet.orchestration.slot import InfeasibleSlotError, min_bandwidth_hz
from gainnet.scenarios.iscc_slot import FIELDS, PRESETS

CONTINUOUS = sorted(name for name, preset in PRESETS.items() if not preset.get("integer_steps"))


@pytest.fixture(params=CONTINUOUS)
def scenario(request) -> gainnet.Scenario:
    return gainnet.make_scenario("iscc-slot", preset=request.param)


def arrays_of(state) -> dict[str, np.ndarray]:
    return {name: getattr(state, name).copy() for name in FIELDS}


def test_every_sampled_slot_is_feasible_and_the_expert_beats_the_equal_split(scenario):
    state = scenario.sample(300, gainnet.rng_for(0, "test"))
    p = scenario.params
    need = min_bandwidth_hz(state.payload_bits, state.snr_per_hz, p.deadline_s)
    assert (need.sum(axis=1) < p.bandwidth_hz).all()
    expert = scenario.default_expert().solve(state)
    equal = scenario.decode(state, np.ones((len(state), scenario.action_dim)))
    assert scenario.is_feasible(state, expert).all()
    assert scenario.is_feasible(state, equal).all()
    gain = scenario.utility(state, expert) - scenario.utility(state, equal)
    assert (gain >= -1e-9).all() and gain.mean() > 0.01


def test_the_expert_is_first_order_optimal_along_every_feasible_direction(scenario):
    """Moving from the optimum along random feasible perturbations (through the action
    encoding) never raises the utility by more than rounding."""
    state = scenario.sample(40, gainnet.rng_for(1, "test"))
    expert = scenario.default_expert().solve(state)
    action = scenario.encode(state, expert)
    rng = gainnet.rng_for(2, "test")
    best = scenario.utility(state, expert)
    for _ in range(20):
        moved = action * np.exp(0.05 * rng.standard_normal(action.shape))
        assert (scenario.utility(state, scenario.decode(state, moved)) <= best + 1e-9).all()


def test_encode_then_decode_gives_the_expert_back(scenario):
    state = scenario.sample(200, gainnet.rng_for(3, "test"))
    expert = scenario.default_expert().solve(state)
    again = scenario.decode(state, scenario.encode(state, expert))
    np.testing.assert_allclose(again, expert, rtol=1e-7, atol=1e-12 * scenario.params.bandwidth_hz)
    gap = scenario.utility(state, expert) - scenario.utility(state, again)
    assert np.abs(gap).max() < 1e-8


def test_the_torch_decode_and_utility_match_numpy(scenario):
    import torch

    state = scenario.sample(64, gainnet.rng_for(4, "test"))
    action = gainnet.rng_for(5, "test").uniform(-0.5, 2.0, (64, scenario.action_dim))
    observation = torch.from_numpy(scenario.observe(state))
    decision = scenario.decode(state, action)
    torch_decision = scenario.decode_torch(observation, torch.from_numpy(action))
    np.testing.assert_allclose(torch_decision.numpy(), decision.reshape(64, -1), rtol=1e-6)
    value = scenario.utility_torch(observation, torch.from_numpy(decision.reshape(64, -1)))
    np.testing.assert_allclose(value.numpy(), scenario.utility(state, decision), rtol=1e-6)


def test_a_hand_given_state_is_validated():
    scenario = gainnet.make_scenario("iscc-slot")
    good = arrays_of(scenario.sample(3, gainnet.rng_for(6, "test")))
    assert len(scenario.state(**good)) == 3
    one = {name: value[0] for name, value in good.items()}
    assert len(scenario.state(**one)) == 1
    for name, bad in [
        ("payload_bits", np.nan),
        ("snr_per_hz", -1.0),
        ("weight", 0.0),
        ("sensing_rate_per_s", np.inf),
    ]:
        broken = arrays_of(scenario.sample(3, gainnet.rng_for(6, "test")))
        broken[name][1, 2] = bad
        with pytest.raises(InvalidStateError, match=name):
            scenario.state(**broken)
    with pytest.raises(InvalidStateError):
        scenario.state(**{name: value[:, :4] for name, value in good.items()})  # K = 4, not 5
    with pytest.raises(InvalidStateError, match="needs exactly"):
        scenario.state(**{k: v for k, v in good.items() if k != "weight"})
    with pytest.raises(InvalidStateError):
        scenario.state(**(good | {"payload_bits": "lots"}))


def test_an_infeasible_slot_is_refused_naming_its_rows():
    scenario = gainnet.make_scenario("iscc-slot")
    arrays = arrays_of(scenario.sample(6, gainnet.rng_for(7, "test")))
    arrays["payload_bits"][[1, 4]] = 1e9  # a gigabit per user in half a second over 20 MHz
    with pytest.raises(InfeasibleSlotError, match=r"2 of 6 .*\[1, 4\]") as caught:
        scenario.state(**arrays)
    assert caught.value.rows.tolist() == [1, 4]


def test_parameters_that_admit_no_feasible_slot_say_what_to_change():
    scenario = gainnet.make_scenario("iscc-slot", bandwidth_hz=1e3, payload_bits_range=[1e8, 2e8])
    with pytest.raises(InvalidConfigError, match="raise the bandwidth"):
        scenario.sample(4, gainnet.rng_for(8, "test"))
    with pytest.raises(InvalidConfigError, match="low <= high"):
        gainnet.make_scenario("iscc-slot", weight_range=[2.0, 1.0])
    with pytest.raises(InvalidConfigError):
        gainnet.make_scenario("iscc-slot", alpha=1.0)
    with pytest.raises(InvalidConfigError):
        gainnet.make_scenario("iscc-slot", num_users=10**6)


def test_actions_from_an_attacker_decode_to_feasible_decisions():
    scenario = gainnet.make_scenario("iscc-slot")
    state = scenario.sample(5, gainnet.rng_for(9, "test"))
    k = scenario.action_dim
    for action in (
        np.full((5, k), np.nan),
        np.full((5, k), 1e308),
        np.full((5, k), -1e308),
        np.where(np.arange(k) % 2, np.inf, -np.inf) * np.ones((5, 1)),
    ):
        decision = scenario.decode(state, action)
        assert np.isfinite(decision).all()
        assert scenario.is_feasible(state, decision).all()


def test_integer_steps_are_whole_and_each_user_gets_its_best_whole_count():
    continuous = gainnet.make_scenario("iscc-slot")
    integer = gainnet.make_scenario("iscc-slot", preset="edge-gpu-integer")
    state = continuous.sample(200, gainnet.rng_for(11, "test"))
    optimum = continuous.default_expert().solve(state)
    rounded = integer.default_expert().solve(state)
    assert integer.is_feasible(state, rounded).all()
    assert not integer.is_feasible(state, optimum).any()  # fractional steps are refused
    steps = rounded[..., 3] * rounded[..., 2] / state.flops_per_step
    np.testing.assert_allclose(steps, np.round(steps), rtol=1e-9)
    np.testing.assert_array_equal(rounded[..., 1:3], optimum[..., 1:3])
    time_s = optimum[..., 0] + optimum[..., 3]
    np.testing.assert_allclose(rounded[..., 0] + rounded[..., 3], time_s, rtol=1e-12)
    # brute force over every whole step count a user's time affords (bandwidth, compute kept)
    p, per_step = continuous.params, state.flops_per_step / optimum[..., 2]
    candidates = np.arange(1, int((time_s / per_step).max()) + 1)[:, None, None]
    sensing = time_s - candidates * per_step
    value = p.alpha * (1 - np.exp(-state.sensing_rate_per_s * sensing)) + (
        1 - p.alpha
    ) * state.quality_slope * np.log(candidates)
    best = candidates[np.argmax(np.where(sensing >= 0, value, -np.inf), axis=0), 0, 0]
    np.testing.assert_array_equal(np.round(steps), best)
    gap = 1 - integer.utility(state, rounded) / continuous.utility(state, optimum)
    assert (gap >= -1e-12).all() and gap.mean() < 0.01


def test_integer_decodes_are_whole_even_from_attacker_actions():
    scenario = gainnet.make_scenario("iscc-slot", preset="edge-gpu-integer")
    state = scenario.sample(50, gainnet.rng_for(12, "test"))
    rng = gainnet.rng_for(13, "test")
    for action in (rng.uniform(-1, 2, (50, scenario.action_dim)), np.ones((50, 20))):
        decision = scenario.decode(state, action)
        assert scenario.is_feasible(state, decision).all()
