"""``bayes-price``: the Bayes-optimal price of an incompletely informed server."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gainnet
from gainnet.errors import GainnetError
from gainnet.experts.stackelberg_bayes import expected_best_price
from gainnet.games.split_pricing import best_response, layer_values, server_utility

A_MS, B_MS, L = 12.5, 10.5, 12


def incomplete(**params):
    return gainnet.make_scenario(
        "stackelberg-split", preset="seed002", information="incomplete", **params
    )


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**6), devices=st.integers(1, 8), draws=st.integers(1, 12))
def test_expected_best_price_beats_a_fine_grid(seed, devices, draws):
    """The weighted mean utility at the returned price is the maximum over a fine price grid."""
    rng = np.random.default_rng(seed)
    theta, price_max = 0.5, 1.0
    beta = rng.uniform(0.5, 8.0, (3, draws, devices))
    capacity = rng.uniform(0.0, 180.0, (3, 1, devices))
    values = layer_values(beta, capacity, A_MS, B_MS, L)  # [3, M, N, L+1]
    weights = rng.dirichlet(np.ones(draws), 3)  # [3, M]

    def expected(price):  # price [3] -> weighted mean utility [3]
        layers = best_response(np.repeat(price[:, None], draws, 1), values)
        return (weights * server_utility(price[:, None], layers, 0.0, theta, L)).sum(1)

    got = expected(expected_best_price(values, weights, theta, price_max))
    grid = np.stack([expected(np.full(3, g)) for g in np.linspace(0, price_max, 2001)])
    assert np.all(got >= grid.max(0) - 1e-6)


def test_it_never_reads_the_true_beta():
    scenario = incomplete()
    state = scenario.sample(20, gainnet.rng_for(0, "eval"))
    expert = gainnet.make_expert("bayes-price", scenario, samples=64)
    first = expert.solve(state)
    state.beta[:] = np.random.default_rng(1).uniform(1.0, 5.0, state.beta.shape)
    np.testing.assert_array_equal(expert.solve(state), first)
    assert first.shape == (20, 1) and scenario.is_feasible(state, first).all()


def test_it_beats_pricing_as_if_every_beta_were_the_estimate():
    """Certainty equivalence (the equilibrium price for beta_n = the observed mean) ignores how
    the devices' betas spread; the Bayes price accounts for it and earns more on average."""
    scenario = incomplete()
    state = scenario.sample(300, gainnet.rng_for(1, "eval"))
    bayes = scenario.utility(state, gainnet.make_expert("bayes-price", scenario).solve(state))
    plug_in = dataclasses.replace(
        state, beta=np.repeat(state.beta_estimate[:, None], state.beta.shape[1], 1)
    )
    naive = scenario.default_expert().solve(plug_in)
    exact = scenario.utility(state, scenario.default_expert().solve(state))
    naive_u = scenario.utility(state, naive)
    assert bayes.mean() > naive_u.mean()
    assert np.all(bayes <= exact + 1e-9)  # no rule beats the fully informed optimum


def test_bad_settings_are_refused():
    with pytest.raises(GainnetError, match="incomplete"):
        gainnet.make_expert("bayes-price", gainnet.make_scenario("stackelberg-split"))
    with pytest.raises(GainnetError, match="samples"):
        gainnet.make_expert("bayes-price", incomplete(), samples=0)
    with pytest.raises(GainnetError, match="beta_noise"):
        gainnet.make_expert("bayes-price", incomplete(beta_noise=0.0))
