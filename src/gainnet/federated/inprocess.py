"""The embedded engine: every site and the server in this process, one after the other.

Deterministic and fast (no serialisation, no processes): the default engine and the one most
tests use. It runs exactly the site and server code the Flower engine runs
(:class:`~gainnet.federated.site.Site`, :class:`~gainnet.federated.server.FederatedServer`),
so one seed gives the same model under both.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gainnet.federated.config import FederationConfig
from gainnet.federated.server import FederatedServer, RoundRecord
from gainnet.federated.site import INITIAL_MEMORY, Site
from gainnet.federated.task import make_task

RoundCallback = Callable[[RoundRecord], None]


def run_inprocess(
    config: FederationConfig,
    on_round: RoundCallback | None = None,
    model_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Run the federation; returns :meth:`FederatedServer.result` (``engine = "in-process"``).
    ``on_round`` sees every finished round (progress bars); ``model_dir`` receives the final
    global model as a solver checkpoint."""
    start = time.perf_counter()
    server = FederatedServer(config)
    site_task = make_task(config)  # the sites' model, apart from the server's
    sites = [Site(site_task, i) for i in range(len(config.sites))]
    memory = [dict(INITIAL_MEMORY) for _ in sites]
    mu = config.proximal_mu if config.algorithm == "fedprox" else 0.0
    for round_index in range(1, config.rounds + 1):
        plan = server.query_plan(round_index)
        answers = {i: site.query(round_index, memory[i], **plan[i]) for i, site in enumerate(sites)}
        selected = server.select(round_index, answers)
        updates = []
        for i in selected:
            payload, metrics = sites[i].train(round_index, server.weights, memory[i], mu)
            updates.append((i, payload, metrics))
        record = server.aggregate(round_index, updates)
        if on_round is not None:
            on_round(record)
    if model_dir is not None:
        server.save_model(model_dir)
    return server.result("in-process", time.perf_counter() - start)
