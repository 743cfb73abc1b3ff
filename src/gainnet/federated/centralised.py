"""The yardstick of federated training: one model trained on all sites' data pooled.

Same model, initial weights, normaliser (the pooled moments), minibatch size, optimiser and
step-size schedule as the federation: ``rounds x local_steps`` Adam steps on the union of
every honest site's labelled data, Adam restarted each "round" as a site's is, the step size of
round ``r`` being the federation's. This is what the sites could do if they shipped their raw
data to the server; federated training aims to match it without doing so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gainnet.federated.config import FederationConfig
from gainnet.federated.site import malicious_sites
from gainnet.federated.task import make_task


def run_centralised(
    config: FederationConfig, on_round: Callable[[int, float], None] | None = None
) -> dict[str, Any]:
    """Train on the pooled data; returns ``ratio``, ``p05_ratio``, ``feasible_rate``,
    ``steps``, ``wall_s`` and ``curve`` (ratio after every block of ``local_steps``)."""
    start = time.perf_counter()
    task = make_task(config)
    honest = [i for i in range(len(config.sites)) if i not in malicious_sites(config)]
    # the data each honest site holds in the last round (after any drift), pooled
    parts = [task.site_data(i, config.rounds) for i in honest]
    pooled = task.pool(parts)
    weights = task.start_from_moments(task.initial_weights(), [task.observation_moments(pooled)])
    test_state, test_utility = task.test_set()
    curve = []
    for round_index in range(1, config.rounds + 1):
        weights, _, _ = task.local_train(
            weights,
            pooled,
            config.local_steps,
            task.round_learning_rate(round_index),
            0.0,
            f"centralised-{round_index}",
        )
        evaluation = task.evaluate(weights, test_state, test_utility)
        curve.append(evaluation["ratio"])
        if on_round is not None:
            on_round(round_index, evaluation["ratio"])
    return {
        **evaluation,
        "steps": config.rounds * config.local_steps,
        "wall_s": time.perf_counter() - start,
        "curve": curve,
    }
