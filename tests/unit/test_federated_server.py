"""The server's round: a malformed update is rejected (not aggregated, not a crash), a report
that claims another site's index is refused, the normaliser is the sites' pooled one."""

from __future__ import annotations

import numpy as np
import pytest

from gainnet.errors import GainnetError, InvalidConfigError
from gainnet.federated import default_sites, federation_from_dict
from gainnet.federated.server import FederatedServer
from gainnet.federated.site import INITIAL_MEMORY, Site
from gainnet.federated.task import DiffusionTask


def config(**changes):
    values = {
        "sites": default_sites(3, 40, seed=2),
        "rounds": 2,
        "local_steps": 2,
        "clients_per_round": 3,
        "selection": "all",
        "solver_params": {"hidden": 8, "batch_size": 8},
        "eval_instances_per_site": 10,
    }
    return federation_from_dict({**values, **changes})


def first_round(cfg):
    server = FederatedServer(cfg)
    sites = [Site(DiffusionTask(cfg), i) for i in range(len(cfg.sites))]
    plan = server.query_plan(1)
    answers = {i: s.query(1, dict(INITIAL_MEMORY), **plan[i]) for i, s in enumerate(sites)}
    chosen = server.select(1, answers)
    updates = [(i, *sites[i].train(1, server.weights, dict(INITIAL_MEMORY), 0.0)) for i in chosen]
    return server, sites, answers, updates


def test_malformed_updates_are_rejected_and_the_rest_aggregated():
    server, _, _, updates = first_round(config())
    site, payload, metrics = updates[0]
    poisoned = {k: np.full_like(v, np.nan) for k, v in payload.items()}
    updates[0] = (site, poisoned, metrics)
    site1, payload1, metrics1 = updates[1]
    updates[1] = (site1, payload1, {k: v for k, v in metrics1.items() if k != "round_s"})
    record = server.aggregate(1, updates)
    assert record.rejected == [0, 1]
    assert record.participated == [2]
    assert record.used == [2]
    assert all(np.all(np.isfinite(v)) for v in server.weights.values())


def test_the_normaliser_is_the_pooled_one_and_stays_put():
    cfg = config()
    server, sites, _, updates = first_round(cfg)
    pooled = np.concatenate([s.data(1).observation.numpy() for s in sites])
    np.testing.assert_allclose(server.weights["obs_mean"], pooled.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(
        server.weights["obs_scale"], 1 / pooled.std(axis=0, ddof=1), rtol=1e-4
    )
    site, payload, metrics = updates[0]
    moved = {**payload, "obs_mean": payload["obs_mean"] + 100.0}
    server.aggregate(1, [(site, moved, metrics), *updates[1:]])
    np.testing.assert_allclose(server.weights["obs_mean"], pooled.mean(axis=0), rtol=1e-5)


def test_a_report_claiming_another_site_is_refused():
    cfg = config()
    server = FederatedServer(cfg)
    sites = [Site(DiffusionTask(cfg), i) for i in range(3)]
    plan = server.query_plan(1)
    answers = {i: s.query(1, dict(INITIAL_MEMORY), **plan[i]) for i, s in enumerate(sites)}
    metrics, lists, arrays = answers[1]
    answers[1] = ({**metrics, "site": 0.0}, lists, arrays)
    with pytest.raises(GainnetError, match="reports itself as site 0"):
        server.select(1, answers)


def test_sizes_that_do_not_fit_are_refused_before_any_work():
    with pytest.raises(InvalidConfigError, match="GiB"):
        DiffusionTask(config(sites=default_sites(1000, 1_000_000)[:1000], clients_per_round=2))
