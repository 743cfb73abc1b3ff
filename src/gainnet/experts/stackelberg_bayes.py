"""``bayes-price``: the best price an incompletely informed server can set, given its prior.

With incomplete information (``stackelberg-split``, ``information="incomplete"``) the server
sees each device's budget ``C_n`` and a noisy estimate ``b`` of the mean ``beta``, not the
``beta_n`` themselves, so no price rule can be sure of the equilibrium. The best rule there is
is Bayes-optimal: the price maximising the server's *expected* utility over the ``beta`` that
are still possible given what it sees. This expert computes it from the scenario's own model,
and is the ceiling a learner of the incomplete setting can approach (it uses nothing a real
server could not know: the prior, ``C_n`` and ``b``; never the true ``beta_n``).

How. The prior draws ``beta ~ U[beta_low, beta_high]^N`` and the observation is
``b = mean(beta) * (1 + sigma z)``. ``M`` prior draws (the same for every instance, from the
expert's seed) are weighted by the likelihood of ``b`` (self-normalised importance sampling).
For each draw the followers' layers are a step function of the price, so the weighted mean
total layers ``S(p)`` is one too, and the expected server utility
``R - theta N L + (theta - p) S(p)`` is linear between the union of all draws' switching
prices: its exact maximum over the weighted draws is ``p = 0`` or one of those prices, found by
sorting them and summing the weighted layer jumps. Monte-Carlo error shrinks as ``M`` grows
(``samples``); the benchmark reports how much the ratio moves between ``M`` values.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from gainnet.core.expert import Expert
from gainnet.core.registry import EXPERTS
from gainnet.core.seeding import rng_for
from gainnet.core.validation import Validated, check_allocation, setting
from gainnet.errors import GainnetError
from gainnet.games.split_pricing import TIE_MARGIN, layer_values, switching_prices


@dataclasses.dataclass(frozen=True)
class BayesPriceConfig(Validated):
    """Settings of ``bayes-price``.

    Attributes
    ----------
    samples : int
        Prior draws of the devices' ``beta`` (``M``); cost and memory grow linearly.
    chunk : int
        Instances priced at once (memory: about ``chunk * M * N * (L + 1) * 8`` bytes).
    seed : int
        Seed of the prior draws.
    """

    samples: int = setting(256, low=1, high=100_000)
    chunk: int = setting(64, low=1, high=100_000)
    seed: int = setting(0, low=0, high=2**63 - 1)


def expected_best_price(
    values: np.ndarray, weights: np.ndarray, theta: float, price_max: float
) -> np.ndarray:
    """Price ``[n]`` maximising the weighted mean server utility over draws.

    ``values [n, M, N, L+1]`` are the followers' layer values under each of ``M`` draws,
    ``weights [n, M]`` sum to 1 per instance. Exact for the weighted draws (see module doc).
    """
    n = values.shape[0]
    prices, jumps = switching_prices(values)  # [n, M, N, L]
    w = np.broadcast_to(weights[:, :, None, None], prices.shape)
    prices, w_jumps = prices.reshape(n, -1), (jumps * w).reshape(n, -1)
    order = np.argsort(prices, axis=1, kind="stable")
    prices = np.take_along_axis(prices, order, axis=1)
    layers = np.cumsum(np.take_along_axis(w_jumps, order, axis=1), axis=1)
    # utility above the p = 0 baseline (where every follower runs 0 layers): (theta - p) S(p)
    usable = prices <= price_max  # unused slots hold inf prices
    gain = np.where(usable, (theta - np.where(usable, prices, 0.0)) * layers, -np.inf)
    best = np.argmax(gain, axis=1)
    rows = np.arange(n)
    price = np.where(gain[rows, best] > 0.0, prices[rows, best], 0.0)
    return np.minimum(price * (1.0 + TIE_MARGIN), price_max)


@EXPERTS.register("bayes-price")
class BayesPrice(Expert):
    """Bayes-optimal price ``[n, 1]`` from what an incompletely informed server observes."""

    name = "bayes-price"
    kind = "approximate"
    scenarios = ("stackelberg-split",)
    Config = BayesPriceConfig

    def __init__(self, scenario, **params) -> None:
        super().__init__(scenario, **params)
        if scenario.params.information != "incomplete":
            raise GainnetError(
                "bayes-price is for information='incomplete'; with complete information the "
                "exact expert is 'equilibrium'"
            )
        p = scenario.params
        if p.beta_noise == 0.0:
            raise GainnetError("bayes-price needs beta_noise > 0 (a noiseless mean is a point)")
        cfg = self.config
        check_allocation(
            "bayes-price layer values (chunk x samples x num_devices x (num_layers + 1))",
            cfg.chunk * cfg.samples * p.num_devices * (p.num_layers + 1),
        )
        rng = rng_for(self.config.seed, "bayes-price prior")
        #: prior draws of beta, [M, N]
        self.beta_draws = rng.uniform(p.beta_low, p.beta_high, (self.config.samples, p.num_devices))

    def weights(self, beta_estimate: np.ndarray) -> np.ndarray:
        """Posterior weights ``[n, M]`` of the prior draws given the observed estimates ``[n]``."""
        mean = self.beta_draws.mean(axis=1)[None, :]
        sigma = self.scenario.params.beta_noise
        z = (np.asarray(beta_estimate, dtype=float)[:, None] / mean - 1.0) / sigma
        log_w = -0.5 * z**2 - np.log(mean)
        log_w -= log_w.max(axis=1, keepdims=True)
        w = np.exp(log_w)
        return w / w.sum(axis=1, keepdims=True)

    def _solve(self, state) -> np.ndarray:
        p = self.scenario.params
        out = np.empty(len(state.capacity_ms))
        for start in range(0, len(out), self.config.chunk):
            part = slice(start, start + self.config.chunk)
            capacity = state.capacity_ms[part][:, None, :]  # [c, 1, N]
            values = layer_values(
                self.beta_draws[None], capacity, p.cost_a_ms_per_layer, p.cost_b_ms, p.num_layers
            )
            weights = self.weights(state.beta_estimate[part])
            out[part] = expected_best_price(values, weights, p.theta, p.price_max)
        return out[:, None]
