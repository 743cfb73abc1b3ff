"""Contract design: the exact expert against cvxpy with every IR and IC constraint."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gainnet
from gainnet.games.contract_theory import isotonic, provider_utility, violations


def solve_with_cvxpy(theta, prior, cost, cap=None):
    """max sum pi (r - c q) s.t. all IR and IC (and q <= cap), in u = ln(1 + q) (convex)."""
    cp = pytest.importorskip("cvxpy")
    k = len(theta)
    u, r = cp.Variable(k), cp.Variable(k)
    quality = cp.exp(u) - 1
    constraints = [u >= 0, cp.multiply(theta, u) - r >= 0]
    if cap is not None:
        constraints.append(u <= np.log1p(cap))
    for a in range(k):
        for b in range(k):
            if a != b:
                constraints.append(theta[a] * u[a] - r[a] >= theta[a] * u[b] - r[b])
    objective = cp.Maximize(prior @ r - cost * cp.sum(cp.multiply(prior, quality)))
    problem = cp.Problem(objective, constraints)
    with warnings.catch_warnings():
        # CLARABEL sometimes stops just short of its own tolerances on these exponential cones
        # ("optimal_inaccurate"); its value still agrees with ours to ~1e-8, and the caller's
        # 1e-5 check decides
        warnings.filterwarnings("ignore", "Solution may be inaccurate")
        problem.solve(solver=cp.CLARABEL)
    assert problem.status in ("optimal", "optimal_inaccurate"), problem.status
    return problem.value


@settings(max_examples=25)
@given(
    seed=st.integers(0, 10**6),
    types=st.integers(1, 6),
    concentration=st.floats(0.3, 20),
    cap=st.sampled_from([None, 10.0, 3.0, 0.5]),
)
def test_expert_matches_cvxpy_and_is_ir_ic(seed, types, concentration, cap):
    """Exact with the model's quality cap (binding at 3 and 0.5) and without one (None)."""
    scenario = gainnet.make_scenario(
        "contract", num_types=types, prior_concentration=concentration, quality_max=cap
    )
    state = scenario.sample(3, gainnet.rng_for(seed, "eval"))
    menu = scenario.default_expert().solve(state)
    assert scenario.is_feasible(state, menu).all()
    ours = scenario.utility(state, menu)
    for i in range(3):
        reference = solve_with_cvxpy(state.theta[i], state.prior[i], state.cost[i], cap)
        assert ours[i] >= reference - 1e-5 * (1 + abs(reference))
        assert ours[i] <= reference + 1e-5 * (1 + abs(reference))


def test_the_cap_binds_and_no_cap_decodes_every_uncapped_optimum():
    """With theta up to 20 and cost down to 0.5 optima reach 39 > 10: the default cap binds
    on some instances, and without a cap the decoded range still holds every optimum."""
    params = {"theta_high": 20.0, "cost_low": 0.5, "num_types": 4}
    capped = gainnet.make_scenario("contract", **params)
    free = gainnet.make_scenario("contract", quality_max=None, **params)
    state = capped.sample(100, gainnet.rng_for(0, "eval"))
    capped_u = capped.utility(state, capped.default_expert().solve(state))
    best = free.default_expert().solve(state)
    free_u = free.utility(state, best)
    assert np.all(capped_u <= free_u + 1e-12) and np.any(capped_u < free_u - 1e-3)
    assert best[:, :4].max() > 10.0
    assert not capped.is_feasible(state, best).all()  # above the cap: infeasible when capped
    roundtrip = free.decode(state, free.encode(state, best))
    np.testing.assert_allclose(roundtrip, best, rtol=1e-9, atol=1e-9)


def test_ironing_is_needed_and_done():
    """A prior with a rare middle type makes the raw virtual types non-monotone."""
    scenario = gainnet.make_scenario("contract", num_types=3)
    state = type(scenario.sample(1, gainnet.rng_for(0, "eval")))(
        theta=np.array([[1.0, 1.2, 4.0]]), prior=np.array([[0.3, 0.05, 0.65]]), cost=np.array([0.5])
    )
    from gainnet.games.contract_theory import virtual_types

    assert np.any(np.diff(virtual_types(state.theta, state.prior)) < 0)
    menu = scenario.default_expert().solve(state)
    quality = menu[:, :3]
    assert np.all(np.diff(quality) >= 0) and scenario.is_feasible(state, menu).all()
    reference = solve_with_cvxpy(state.theta[0], state.prior[0], state.cost[0])
    assert scenario.utility(state, menu)[0] == pytest.approx(reference, rel=1e-5, abs=1e-6)


def test_isotonic_regression_against_brute_properties():
    rng = np.random.default_rng(0)
    values, weights = rng.normal(size=(50, 7)), rng.uniform(0.1, 1, (50, 7))
    fit = isotonic(values, weights)
    assert np.all(np.diff(fit, axis=1) >= -1e-12)
    # weighted means are preserved (a property of the least-squares isotonic fit)
    np.testing.assert_allclose((fit * weights).sum(1), (values * weights).sum(1), rtol=1e-10)
    sorted_rows = np.sort(values, axis=1)
    np.testing.assert_allclose(isotonic(sorted_rows, weights), sorted_rows)


def test_decode_is_always_ir_ic_and_violations_are_detected():
    scenario = gainnet.make_scenario("contract")
    state = scenario.sample(200, gainnet.rng_for(1, "eval"))
    actions = gainnet.rng_for(1, "explore").uniform(-3, 3, (200, 5))
    menus = scenario.decode(state, actions)
    assert scenario.is_feasible(state, menus).all()
    optimum = scenario.utility(state, scenario.default_expert().solve(state))
    assert np.all(scenario.utility(state, menus) <= optimum + 1e-9)
    # a menu that overcharges the lowest type breaks IR; swapping items breaks IC
    bad = menus.copy()
    bad[:, 5] += 1.0
    ir, _ = violations(state.theta, bad[:, :5], bad[:, 5:])
    assert np.all(ir > 0) and not scenario.is_feasible(state, bad).any()
    swapped = menus.copy()
    swapped[:, 9] = swapped[:, 5]  # the top type pays the bottom type's price
    swapped[:, 4] = swapped[:, 0] + 5
    _, ic = violations(state.theta, swapped[:, :5], swapped[:, 5:])
    assert np.any(ic > 0)


def test_utility_formula():
    prior = np.array([[0.5, 0.5]])
    assert provider_utility(prior, np.array([2.0]), np.array([[1.0, 2.0]]), np.array([[3.0, 5.0]]))[
        0
    ] == pytest.approx(0.5 * (3 - 2) + 0.5 * (5 - 4))
