"""Every registered scenario (and each of its presets) honours the Scenario contract.

Parametrised over ``gainnet.list_scenarios()``: a new scenario is tested without new test code.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import gainnet
from gainnet.registry import SCENARIOS

CASES = [
    pytest.param((name, preset), id=f"{name}-{preset or 'default'}")
    for name in gainnet.list_scenarios()
    for preset in [None, *sorted(SCENARIOS.get(name).presets)]
]
N = 64


@pytest.fixture(params=CASES)
def scenario(request) -> gainnet.Scenario:
    name, preset = request.param
    return gainnet.make_scenario(name, preset=preset)


@pytest.fixture
def state(scenario) -> gainnet.StateBatch:
    return scenario.sample(N, gainnet.rng_for(0, "eval"))


def _fields(state):
    return {f.name: getattr(state, f.name) for f in dataclasses.fields(state)}


def _with_nan(state):
    """The same batch with one entry of every floating-point field set to NaN (instance 1)."""
    changed = {}
    for name, value in _fields(state).items():
        value = np.array(value, copy=True)
        if np.issubdtype(value.dtype, np.floating):
            value[(1,) + (0,) * (value.ndim - 1)] = np.nan
        changed[name] = value
    return type(state)(**changed)


def _random_actions(scenario, n, seed=0):
    return gainnet.rng_for(seed, "explore").normal(0.0, 2.0, size=(n, scenario.action_dim))


def test_dimensions_are_positive_integers(scenario):
    for dim in (scenario.observation_dim, scenario.action_dim):
        assert isinstance(dim, int) and dim >= 1


def test_sample_is_batched_and_reproducible(scenario, state):
    assert isinstance(state, gainnet.StateBatch) and len(state) == N
    for name, value in _fields(state).items():
        assert isinstance(value, np.ndarray) and value.shape[0] == N, name
        assert np.all(np.isfinite(value)), name
    again = scenario.sample(N, gainnet.rng_for(0, "eval"))
    other = scenario.sample(N, gainnet.rng_for(1, "eval"))
    for name, value in _fields(state).items():
        np.testing.assert_array_equal(value, getattr(again, name))
    assert any(not np.array_equal(v, getattr(other, k)) for k, v in _fields(state).items())
    scenario.validate_state(state)


def test_observe_utility_is_feasible_shapes_and_dtypes(scenario, state):
    obs = scenario.observe(state)
    assert obs.shape == (N, scenario.observation_dim) and obs.dtype == np.float32
    assert np.all(np.isfinite(obs))
    decision = scenario.default_expert().solve(state)
    assert decision.shape[0] == N
    utility = scenario.utility(state, decision)
    assert utility.shape == (N,) and utility.dtype == np.float64 and np.all(np.isfinite(utility))
    feasible = scenario.is_feasible(state, decision)
    assert feasible.shape == (N,) and feasible.dtype == np.bool_


def test_batched_maths_equals_per_instance_maths(scenario, state):
    expert = scenario.default_expert()
    decision = scenario.decode(state, _random_actions(scenario, N))
    utility = scenario.utility(state, decision)
    feasible = scenario.is_feasible(state, decision)
    obs = scenario.observe(state)
    best = expert.solve(state)
    for i in range(0, N, 7):
        one = state.take(slice(i, i + 1))
        assert len(one) == 1
        np.testing.assert_allclose(scenario.utility(one, decision[i : i + 1]), utility[i : i + 1])
        assert scenario.is_feasible(one, decision[i : i + 1])[0] == feasible[i]
        np.testing.assert_array_equal(scenario.observe(one), obs[i : i + 1])
        np.testing.assert_allclose(expert.solve(one), best[i : i + 1], rtol=1e-12, atol=1e-15)


def test_default_expert_decisions_are_feasible(scenario, state):
    expert = scenario.default_expert()
    assert expert.kind in ("exact", "approximate", "heuristic")
    assert scenario.name in expert.scenarios
    assert type(gainnet.make_expert(expert.name, scenario)) is type(expert)
    decision = expert.solve(state)
    assert scenario.is_feasible(state, decision).all()
    assert expert.calls == N


def test_decode_makes_any_action_feasible(scenario, state):
    expected_shape = scenario.default_expert().solve(state).shape
    action = _random_actions(scenario, N)
    action[0] = np.nan
    action[1] = np.inf
    action[2] = -np.inf
    action[3, ::2] = np.nan
    action[4] = 1e300
    action[5] = -1e300
    decision = scenario.decode(state, action)
    assert decision.shape == expected_shape
    assert scenario.is_feasible(state, decision).all()
    assert np.all(np.isfinite(scenario.utility(state, decision)))


def test_encode_recovers_the_expert_decision(scenario, state):
    """The action encoding can express the expert's optimum exactly (pitfall 3)."""
    expert = scenario.default_expert().solve(state)
    action = scenario.encode(state, expert)
    assert action.shape == (N, scenario.action_dim) and np.all(np.isfinite(action))
    decoded = scenario.decode(state, action)
    scale = max(float(np.abs(expert).max()), 1e-300)
    np.testing.assert_allclose(decoded, expert, rtol=0, atol=1e-12 * scale)
    np.testing.assert_array_equal(decoded == 0, expert == 0)  # exact zeros survive
    np.testing.assert_allclose(
        scenario.utility(state, decoded), scenario.utility(state, expert), rtol=1e-12
    )


def test_an_exact_expert_is_never_beaten_by_decoded_actions(scenario, state):
    expert = scenario.default_expert()
    if expert.kind != "exact":
        pytest.skip(f"the default expert of {scenario.name} is {expert.kind}")
    best = scenario.utility(state, expert.solve(state))
    for seed in range(5):
        other = scenario.utility(state, scenario.decode(state, _random_actions(scenario, N, seed)))
        assert np.all(other <= best + 1e-9 * np.abs(best))


def test_invalid_states_are_refused(scenario, state):
    bad = _with_nan(state)
    decision = scenario.default_expert().solve(state)
    for call in (
        scenario.validate_state,
        scenario.observe,
        lambda s: scenario.utility(s, decision),
        lambda s: scenario.is_feasible(s, decision),
        scenario.default_expert().solve,
    ):
        with pytest.raises(gainnet.InvalidStateError):
            call(bad)


def test_config_rebuilds_the_same_scenario(scenario, state):
    import json

    config = json.loads(json.dumps(scenario.config()))  # JSON-friendly
    assert config["name"] == scenario.name and config["version"] == scenario.version
    rebuilt = gainnet.make_scenario(config["name"], **config["params"])
    assert rebuilt.config() == scenario.config()
    np.testing.assert_array_equal(
        rebuilt.utility(state, rebuilt.default_expert().solve(state)),
        scenario.utility(state, scenario.default_expert().solve(state)),
    )
    assert type(scenario).__name__ in repr(scenario)


def test_take_and_concat_round_trip(state):
    parts = [state.take(slice(0, 10)), state.take(np.arange(10, 30)), state.take(slice(30, N))]
    whole = type(state).concat(parts)
    for name, value in _fields(state).items():
        np.testing.assert_array_equal(getattr(whole, name), value)
    mask = np.zeros(N, dtype=bool)
    mask[[3, 5]] = True
    assert len(state.take(mask)) == 2 and len(state.take(np.array([7]))) == 1


def test_differentiable_maths_matches_the_numpy_maths(scenario, state):
    torch = pytest.importorskip("torch")
    obs = torch.from_numpy(scenario.observe(state))
    action = _random_actions(scenario, N).astype(np.float32)
    try:
        decision_t = scenario.decode_torch(obs, torch.from_numpy(action).requires_grad_())
    except NotImplementedError:
        pytest.skip(f"{scenario.name} has no differentiable decode")
    decision = scenario.decode(state, action.astype(np.float64))
    np.testing.assert_allclose(
        decision_t.detach().numpy(), decision.reshape(N, -1), rtol=1e-5, atol=1e-6
    )
    try:
        utility_t = scenario.utility_torch(obs, decision_t)
    except NotImplementedError:  # a differentiable decode alone serves critic gradients
        decision_t.sum().backward()
        return
    utility = scenario.utility(state, decision)
    # torch works from float32 observations: relative 1e-5, or absolute near zero
    np.testing.assert_allclose(
        utility_t.detach().numpy(), utility, rtol=1e-5, atol=1e-6 * np.abs(utility).max()
    )
    utility_t.sum().backward()  # and it is differentiable


@pytest.mark.parametrize("n", [2.5, "3", 3.0, True, 0, -1, None])
def test_sample_refuses_counts_that_are_not_positive_integers(scenario, n):
    with pytest.raises(gainnet.InvalidConfigError, match="instances to sample"):
        scenario.sample(n, gainnet.rng_for(0, "eval"))


@pytest.mark.parametrize("rng", [None, 0, np.random.RandomState(0)])
def test_sample_refuses_anything_but_a_generator(scenario, rng):
    with pytest.raises(gainnet.InvalidConfigError, match=r"numpy\.random\.Generator"):
        scenario.sample(2, rng)


def test_sample_refuses_a_batch_too_large_for_memory(scenario):
    with pytest.raises(gainnet.InvalidConfigError, match="GiB"):
        scenario.sample(10**8, gainnet.rng_for(0, "eval"))


@pytest.mark.parametrize("kind", ["strings", "objects"])
def test_non_numeric_states_are_refused_before_numpy_sees_them(scenario, state, kind):
    changed = {}
    for name, value in _fields(state).items():
        value = np.asarray(value)
        changed[name] = value.astype(str) if kind == "strings" else value.astype(object)
    bad = type(state)(**changed)
    for call in (
        lambda: scenario.observe(bad),
        lambda: scenario.default_expert().solve(bad),
        lambda: scenario.decode(bad, _random_actions(scenario, N)),
    ):
        with pytest.raises(gainnet.InvalidStateError, match="real numbers"):
            call()


def test_decisions_with_wrong_dtype_shape_or_values_are_refused(scenario, state):
    decision = np.asarray(scenario.default_expert().solve(state), dtype=float)
    with pytest.raises(gainnet.InvalidDecisionError, match="real numbers"):
        scenario.utility(state, decision.astype(str))
    with pytest.raises(gainnet.InvalidDecisionError, match="rows"):
        scenario.utility(state, decision[:-1])
    with pytest.raises(gainnet.InvalidDecisionError, match="NaN"):
        scenario.utility(state, np.full_like(decision, np.nan))
    with pytest.raises(gainnet.InvalidDecisionError, match="real numbers"):
        scenario.decode(state, np.full((N, scenario.action_dim), "x"))


def test_a_non_finite_utility_is_an_error_not_a_result(scenario, state):
    """Huge finite decisions (1e308) are infeasible; wherever their utility overflows, the
    scenario says so instead of returning inf."""
    decision = np.full((N, *scenario.decision_shape), 1e308)
    assert not scenario.is_feasible(state, decision).any()
    try:
        utility = scenario.utility(state, decision)
    except gainnet.InvalidDecisionError as exc:
        assert "not finite" in str(exc)
    else:
        assert np.all(np.isfinite(utility))
