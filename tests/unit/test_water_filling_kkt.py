"""Water-filling: KKT conditions over wide ranges (hypothesis), an independent convex solver at
tight tolerance, and hand-computed water levels."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import gainnet
from gainnet.experts.water_filling import WaterFilling, water_filling_power_w

PRESETS = ("gdmopt", "aigx-t1", "aigx-t2")

# The reference is Clarabel at a duality-gap and feasibility tolerance of 1e-9 (tighter
# settings make it report "inaccurate" on wide-range gains). At that tolerance the optimal
# *value* is pinned to ~1e-9 relative, but the powers only to ~sqrt(1e-9) ~ 3e-5 of P because
# the objective is flat at its optimum; measured worst cases over 30 random instances: 1.3e-9
# (value) and 1.2e-5 (power). The thresholds leave about one order of magnitude above those.
CLARABEL_TOL = {"tol_gap_abs": 1e-9, "tol_gap_rel": 1e-9, "tol_feas": 1e-9}
UTILITY_RTOL = 1e-8
POWER_ATOL_PER_W = 1e-4


def _cvxpy_powers(gains: np.ndarray, total_power_w: float, noise_power_w: float) -> np.ndarray:
    """``max sum log(1 + g p / N0)`` s.t. ``sum p = P, p >= 0``, one instance at a time."""
    n, m = gains.shape
    gain_over_noise = cp.Parameter(m, nonneg=True)
    power = cp.Variable(m)
    problem = cp.Problem(
        cp.Maximize(cp.sum(cp.log1p(cp.multiply(gain_over_noise, power)))),
        [cp.sum(power) == total_power_w, power >= 0],
    )
    out = np.empty_like(gains)
    for i in range(n):  # the reference solver is per instance by nature; the expert is not
        gain_over_noise.value = gains[i] / noise_power_w
        problem.solve(solver=cp.CLARABEL, **CLARABEL_TOL)
        assert problem.status == cp.OPTIMAL
        out[i] = power.value
    return out


def _rate_nats(gains, power, noise_power_w):
    return np.log1p(gains * np.maximum(power, 0.0) / noise_power_w).sum(axis=1)


@pytest.mark.parametrize("preset", PRESETS)
def test_matches_tight_cvxpy_on_every_preset(preset):
    scenario = gainnet.make_scenario("power-allocation", preset=preset)
    state = scenario.sample(6, gainnet.rng_for(11, "test"))
    p = scenario.params
    expert = scenario.default_expert().solve(state)
    reference = _cvxpy_powers(state.gains, p.total_power_w, p.noise_power_w)
    ours, theirs = (
        _rate_nats(state.gains, expert, p.noise_power_w),
        _rate_nats(state.gains, reference, p.noise_power_w),
    )
    np.testing.assert_allclose(ours, theirs, rtol=UTILITY_RTOL)
    assert np.all(ours >= theirs * (1 - UTILITY_RTOL)), "the exact expert was beaten"
    np.testing.assert_allclose(expert, reference, rtol=0, atol=POWER_ATOL_PER_W * p.total_power_w)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_cvxpy_on_wide_instances_with_dead_channels(seed):
    rng = gainnet.rng_for(seed, "test")
    m = int(rng.integers(2, 16))
    gains = 10.0 ** rng.uniform(-2, 2, size=(4, m))
    gains[:, 0] = 0.0  # a dead channel in every instance
    total, noise = float(10 ** rng.uniform(-1, 1)), float(10 ** rng.uniform(-1, 1))
    power, _ = water_filling_power_w(gains, total, noise)
    reference = _cvxpy_powers(gains, total, noise)
    np.testing.assert_allclose(
        _rate_nats(gains, power, noise), _rate_nats(gains, reference, noise), rtol=UTILITY_RTOL
    )
    np.testing.assert_allclose(power, reference, rtol=0, atol=POWER_ATOL_PER_W * total)
    assert np.all(power[:, 0] == 0.0)


# ----------------------------------------------------------------------------- KKT (hypothesis)


@st.composite
def instances(draw):
    """Gains over 12 decades with ~1/4 exact zeros, M in 1..30, P and N0 over 6 decades each.

    The ranges keep the smallest SNR ``P g / N0`` at 1e-12 or more, far from float64's ~1e-16
    resolution of ``N0 / g + P`` (below it no algorithm can tell which channel is best).
    """
    n = draw(st.integers(1, 5))
    m = draw(st.integers(1, 30))
    exponent = st.floats(-6.0, 6.0, allow_nan=False)
    entries = st.one_of(st.just(None), exponent, exponent, exponent)
    raw = draw(st.lists(st.lists(entries, min_size=m, max_size=m), min_size=n, max_size=n))
    gains = np.array([[0.0 if e is None else 10.0**e for e in row] for row in raw])
    total = 10.0 ** draw(st.floats(-3.0, 3.0))
    noise = 10.0 ** draw(st.floats(-3.0, 3.0))
    return gains, total, noise


# floors N0/g ~ 1e9 dwarf P = 1e-3: p = mu - N0/g cancels ~12 digits, so the budget is only
# tight if the expert removes the rounding residue
@example((np.array([[1e-6, 2e-6, 0.0], [3e-6, 1e-6, 7e-7]]), 1.2345e-3, 1e3))
@given(instances())
def test_kkt_conditions_hold_over_wide_ranges(instance):
    gains, total, noise = instance
    power, level = water_filling_power_w(gains, total, noise)
    assert power.shape == gains.shape and level.shape == (gains.shape[0],)

    # primal feasibility: p >= 0 and the budget spent to 1e-9 relative
    assert np.all(power >= 0)
    np.testing.assert_allclose(power.sum(axis=1), total, rtol=1e-9)

    alive = np.any(gains > 0, axis=1)
    with np.errstate(divide="ignore"):
        floor = np.where(gains > 0, noise / np.where(gains > 0, gains, 1.0), np.inf)
    for i in np.flatnonzero(alive):  # per-row *checks*; the expert itself ran batched
        mu = level[i]
        active = power[i] > 0
        assert np.isfinite(mu) and mu > 0 and active.any()
        assert np.all(gains[i, active] > 0), "a zero-gain channel got power"
        # stationarity: the returned level mu = p_i + N0/g_i on every active channel
        np.testing.assert_allclose(power[i, active] + floor[i, active], mu, rtol=1e-9)
        # complementary slackness: a silent channel's floor is at or above the level
        assert np.all(floor[i, ~active] >= mu * (1 - 1e-9))

    # every gain zero: nothing to gain, the power is shared equally and no level exists
    np.testing.assert_allclose(power[~alive], total / gains.shape[1], rtol=1e-12)
    assert np.all(np.isnan(level[~alive]))


@settings(max_examples=50)  # a per-row loop of the expert: keep the test under ~0.5 s
@given(instances())
def test_batch_equals_rows_over_wide_ranges(instance):
    gains, total, noise = instance
    power, level = water_filling_power_w(gains, total, noise)
    for i in range(gains.shape[0]):
        row_power, row_level = water_filling_power_w(gains[i : i + 1], total, noise)
        np.testing.assert_array_equal(power[i], row_power[0])
        np.testing.assert_array_equal(level[i], row_level[0])


@settings(max_examples=50)
@given(instances(), st.randoms(use_true_random=False))
def test_channel_order_does_not_matter(instance, random):
    gains, total, noise = instance
    perm = np.array(random.sample(range(gains.shape[1]), gains.shape[1]))
    power, _ = water_filling_power_w(gains, total, noise)
    permuted, _ = water_filling_power_w(gains[:, perm], total, noise)
    np.testing.assert_allclose(permuted, power[:, perm], rtol=1e-9, atol=1e-12 * total)


# ----------------------------------------------------------------------------- closed forms


def test_one_channel_gets_all_power_at_the_right_level():
    power, level = water_filling_power_w(np.array([[0.37], [5.0]]), 2.5, 0.1)
    np.testing.assert_allclose(power, [[2.5], [2.5]], rtol=1e-15)
    np.testing.assert_allclose(level, [2.5 + 0.1 / 0.37, 2.5 + 0.1 / 5.0], rtol=1e-15)


@pytest.mark.parametrize("m", [2, 7, 30])
def test_equal_gains_get_equal_power_at_the_right_level(m):
    power, level = water_filling_power_w(np.full((3, m), 0.8), 3.0, 1.0)
    np.testing.assert_allclose(power, 3.0 / m, rtol=1e-14)
    np.testing.assert_allclose(level, 3.0 / m + 1.0 / 0.8, rtol=1e-14)


def test_two_channels_by_hand():
    # g = (2, 1), N0 = 1, P = 1: floors 0.5 and 1; mu = (1 + 0.5 + 1) / 2 = 1.25 > 1,
    # so both are on: p = (0.75, 0.25).
    power, level = water_filling_power_w(np.array([[2.0, 1.0]]), 1.0, 1.0)
    np.testing.assert_allclose(power, [[0.75, 0.25]], rtol=1e-14)
    np.testing.assert_allclose(level, [1.25], rtol=1e-14)
    # P = 0.4: mu_2 = (0.4 + 1.5) / 2 = 0.95 < 1, so only the strong channel is on (exactly),
    # at mu_1 = 0.4 + 0.5 = 0.9.
    power, level = water_filling_power_w(np.array([[2.0, 1.0]]), 0.4, 1.0)
    np.testing.assert_allclose(power, [[0.4, 0.0]], rtol=1e-15)
    assert power[0, 1] == 0.0
    np.testing.assert_allclose(level, [0.9], rtol=1e-14)


def test_zero_gain_is_never_given_power():
    power, _ = water_filling_power_w(np.array([[0.0, 1e-3, 0.0]]), 1e3, 1.0)
    np.testing.assert_allclose(power, [[0.0, 1e3, 0.0]], rtol=1e-15)
    assert power[0, 0] == power[0, 2] == 0.0


def test_expert_wraps_the_function_with_the_scenario_parameters(gdmopt):
    expert = gainnet.make_expert("water-filling", gdmopt)
    assert isinstance(expert, WaterFilling) and type(gdmopt.default_expert()) is WaterFilling
    state = gdmopt.sample(17, gainnet.rng_for(0, "test"))
    p = gdmopt.params
    np.testing.assert_array_equal(
        expert.solve(state),
        water_filling_power_w(state.gains, p.total_power_w, p.noise_power_w)[0],
    )
    assert expert.calls == 17


def test_expert_does_not_count_refused_states(gdmopt):
    from gainnet.scenarios.power_allocation import PowerAllocationState

    expert = gdmopt.default_expert()
    with pytest.raises(gainnet.InvalidStateError):
        expert.solve(PowerAllocationState(gains=np.full((2, 10), np.nan)))
    assert expert.calls == 0
