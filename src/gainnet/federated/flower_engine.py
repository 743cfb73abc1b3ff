"""The Flower engine: the same sites and server on Flower's Message API (flwr 1.4x).

The ``ClientApp`` answers three message types with :class:`~gainnet.federated.site.Site`:
``query`` (the selection state, observation moments, audit rows), ``train`` (local training,
the compressed update) and nothing else. The ``ServerApp`` runs one of Flower's strategies
(``FedAvg``/``FedProx``, ``FedMedian``, ``FedTrimmedAvg``, ``Krum``, ``MultiKrum``) through
``strategy.start``; gainnet subclasses it where Flower leaves the choice to its users:

- ``configure_train`` first sends every node a query message and hands the answers to
  :meth:`FederatedServer.select` (audits, then the selection policy), then sends the global
  weights to the chosen nodes only;
- ``aggregate_train`` decodes each compressed reply into full weights, drops declined and
  audited-out sites, orders the replies by site and calls the Flower strategy's own
  ``aggregate_train``; :meth:`FederatedServer.finish_round` re-imposes the normaliser,
  evaluates the aggregate and logs the round.

:mod:`gainnet.federated.flower_simulation` runs it on Flower's Simulation Engine (Ray);
:mod:`gainnet.federated.flower_deployment` on the Deployment Engine (a SuperLink and
SuperNodes as separate processes). A site learns which site it is from the node config's
``partition-id``; what it remembers between rounds lives in the node's ``Context.state``.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from gainnet.errors import GainnetError
from gainnet.federated import aggregation
from gainnet.federated.config import FederationConfig, federation_from_dict
from gainnet.federated.server import FederatedServer, RoundRecord
from gainnet.federated.site import INITIAL_MEMORY, Site
from gainnet.federated.task import make_task

INSTALL_HINT = "the Flower engine needs the federated extra: pip install 'gainnet[federated]'"
MEMORY_KEY = "gainnet-memory"
#: seconds the server waits for every SuperNode to connect
NODE_WAIT_S = 120.0


def require_flower() -> None:
    """Raise a one-line :class:`GainnetError` if ``flwr`` is not installed."""
    try:
        import flwr  # noqa: F401
    except ImportError:
        raise GainnetError(INSTALL_HINT) from None


# --------------------------------------------------------------------- the ClientApp
@functools.lru_cache(maxsize=4)
def _site_task(config_json: str):
    """One task per federation per process (its data cache lives as long as the process)."""
    return make_task(federation_from_dict(json.loads(config_json)))


def make_client_app(config: FederationConfig | None = None):
    """The ``ClientApp``; with ``config`` None it reads the JSON config from the run config's
    ``federation`` key (Deployment Engine)."""
    require_flower()
    import torch
    from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
    from flwr.app.message.array import Array
    from flwr.clientapp import ClientApp

    fixed = None if config is None else config.to_json()
    app = ClientApp()

    def site_for(context) -> tuple[Site, dict[str, float]]:
        torch.set_num_threads(1)
        text = fixed if fixed is not None else str(context.run_config["federation"])
        task = _site_task(text)
        index = int(context.node_config["partition-id"])
        if not 0 <= index < len(task.config.sites):
            raise GainnetError(f"partition-id {index} is not a site of this federation")
        stored = context.state.metric_records.get(MEMORY_KEY)
        memory = (
            dict(INITIAL_MEMORY) if stored is None else {k: float(v) for k, v in stored.items()}
        )
        return Site(task, index), memory

    @app.query()
    def query(msg: Message, context) -> Message:
        site, memory = site_for(context)
        request = msg.content["config"]
        metrics, lists, arrays = site.query(
            int(request["round"]),
            memory,
            want_moments=bool(request["want-moments"]),
            audit_indices=[int(i) for i in request.get("audit-indices", [])],
        )
        content = RecordDict({"report": MetricRecord(metrics)})
        if lists:
            content["moments"] = ConfigRecord(lists)
        if arrays:
            content["audit"] = ArrayRecord(array_dict={k: Array(v) for k, v in arrays.items()})
        return Message(content, reply_to=msg)

    @app.train()
    def train(msg: Message, context) -> Message:
        site, memory = site_for(context)
        request = msg.content["config"]
        weights = {k: v.numpy() for k, v in msg.content["arrays"].items()}
        payload, metrics = site.train(
            int(request["server-round"]), weights, memory, float(request["proximal-mu"])
        )
        context.state[MEMORY_KEY] = MetricRecord(memory)
        metrics["num-examples"] = metrics["num_examples"]
        content = RecordDict(
            {
                "arrays": ArrayRecord(array_dict={k: Array(v) for k, v in payload.items()}),
                "metrics": MetricRecord(metrics),
            }
        )
        return Message(content, reply_to=msg)

    return app


# --------------------------------------------------------------------- the ServerApp
def _strategy_class(config: FederationConfig):
    from flwr.serverapp import strategy

    if config.aggregator == "mean":
        return strategy.FedProx if config.algorithm == "fedprox" else strategy.FedAvg
    return {
        "median": strategy.FedMedian,
        "trimmed-mean": strategy.FedTrimmedAvg,
        "krum": strategy.Krum,
        "multi-krum": strategy.MultiKrum,
    }[config.aggregator]


def _strategy_kwargs(config: FederationConfig) -> dict[str, Any]:
    n = len(config.sites)
    kwargs: dict[str, Any] = {
        "fraction_evaluate": 0.0,
        "min_available_nodes": n,
        "min_train_nodes": 1,
        "min_evaluate_nodes": 0,
    }
    if config.aggregator == "mean" and config.algorithm == "fedprox":
        kwargs["proximal_mu"] = config.proximal_mu
    if config.aggregator == "trimmed-mean":
        kwargs["beta"] = config.trim_fraction
    if config.aggregator in ("krum", "multi-krum"):
        kwargs["num_malicious_nodes"] = config.krum_assumed_malicious
    if config.aggregator == "multi-krum":
        kwargs["num_nodes_to_select"] = aggregation.multi_krum_keep(
            config.clients_per_round, config.krum_assumed_malicious
        )
    return kwargs


def make_strategy(server: FederatedServer, on_round: Callable[[RoundRecord], None] | None = None):
    """A Flower strategy (the configured aggregator's class) driven by ``server``."""
    from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
    from flwr.app.message.array import Array

    config = server.config
    base = _strategy_class(config)
    mu = config.proximal_mu if config.algorithm == "fedprox" else 0.0

    def to_record(weights: dict[str, np.ndarray]) -> ArrayRecord:
        return ArrayRecord(array_dict={k: Array(np.asarray(v)) for k, v in weights.items()})

    class GainnetStrategy(base):  # type: ignore[misc, valid-type]
        """Query round + gainnet's selection in ``configure_train``; decoding and gainnet's
        bookkeeping around Flower's own aggregation in ``aggregate_train``."""

        def configure_train(self, server_round, arrays, train_config, grid):
            nodes = _wait_for_nodes(grid, len(config.sites))
            plan = server.query_plan(server_round)
            queries = []
            for node in nodes:
                record = ConfigRecord({"round": server_round, "want-moments": server_round == 1})
                queries.append(
                    Message(
                        RecordDict({"config": record}),
                        dst_node_id=node,
                        message_type=MessageType.QUERY,
                    )
                )
            # audits need the site index first: ask every node once, then the ones to audit
            answers, node_of = _collect_answers(grid, queries)
            audits = [
                Message(
                    RecordDict(
                        {
                            "config": ConfigRecord(
                                {
                                    "round": server_round,
                                    "want-moments": False,
                                    "audit-indices": plan[site]["audit_indices"],
                                }
                            )
                        }
                    ),
                    dst_node_id=node_of[site],
                    message_type=MessageType.QUERY,
                )
                for site in sorted(node_of)
                if plan[site]["audit_indices"]
            ]
            if audits:
                audited, _ = _collect_answers(grid, audits)
                for site, (_, _, rows) in audited.items():
                    metrics, lists, _ = answers[site]
                    answers[site] = (metrics, lists, rows)
            chosen = server.select(server_round, answers)
            self._node_site = {node_of[s]: s for s in chosen}
            train_config["server-round"] = server_round
            train_config["proximal-mu"] = mu
            content = RecordDict({"arrays": to_record(server.weights), "config": train_config})
            return [
                Message(content, dst_node_id=node_of[s], message_type=MessageType.TRAIN)
                for s in chosen
            ]

        def aggregate_train(self, server_round, replies):
            site_metrics, arrived = [], []
            for msg in replies:
                if msg.has_error():
                    continue
                site = self._node_site.get(msg.metadata.src_node_id)
                if site is None:
                    continue
                try:
                    metrics = {k: float(v) for k, v in msg.content["metrics"].items()}
                    payload = {k: v.numpy() for k, v in msg.content["arrays"].items()}
                except (KeyError, TypeError, ValueError):
                    metrics, payload = {}, {}
                if metrics.get("declined"):
                    site_metrics.append((site, metrics))
                    continue
                full = server.accept(site, payload, metrics)
                if full is None:
                    continue
                site_metrics.append((site, metrics))
                msg.content = RecordDict(
                    {
                        "arrays": to_record(full),
                        "metrics": MetricRecord({"num-examples": metrics["num_examples"]}),
                    }
                )
                arrived.append((site, full, msg))
            arrived.sort(key=lambda item: item[0])
            if arrived:
                aggregated, _ = super().aggregate_train(server_round, [m for _, _, m in arrived])
                new = {k: v.numpy() for k, v in aggregated.items()}
                used = _used_sites(config, arrived)
            else:
                new, used = server.weights, []
            record = server.finish_round(server_round, new, sorted(site_metrics), used)
            if on_round is not None:
                on_round(record)
            return to_record(server.weights), MetricRecord({"ratio": record.ratio})

    return GainnetStrategy(**_strategy_kwargs(config))


def _used_sites(config: FederationConfig, arrived: list) -> list[int]:
    """The sites whose updates Krum / multi-Krum kept (every arrived site otherwise)."""
    sites = [s for s, _, _ in arrived]
    if config.aggregator not in ("krum", "multi-krum"):
        return sites
    keep = 1
    if config.aggregator == "multi-krum":
        keep = aggregation.multi_krum_keep(config.clients_per_round, config.krum_assumed_malicious)
    chosen = aggregation.krum_select(
        [w for _, w, _ in arrived], config.krum_assumed_malicious, keep
    )
    return [sites[i] for i in chosen]


def _wait_for_nodes(grid, count: int) -> list[int]:
    deadline = time.monotonic() + NODE_WAIT_S
    while True:
        nodes = sorted(grid.get_node_ids())
        if len(nodes) >= count:
            return nodes
        if time.monotonic() > deadline:
            raise GainnetError(f"only {len(nodes)} of {count} sites connected in {NODE_WAIT_S} s")
        time.sleep(0.2)


def _collect_answers(grid, messages) -> tuple[dict[int, tuple], dict[int, int]]:
    """Send query messages; ``({site: (metrics, lists, arrays)}, {site: node id})``."""
    answers: dict[int, tuple] = {}
    node_of: dict[int, int] = {}
    for reply in grid.send_and_receive(messages):
        if reply.has_error():
            raise GainnetError(f"a site failed to answer the query: {reply.error.reason}")
        metrics = {k: float(v) for k, v in reply.content["report"].items()}
        site = int(metrics["site"])
        if site in answers:
            raise GainnetError(f"two nodes claim to be site {site}")
        lists = {}
        if "moments" in reply.content.config_records:
            lists = dict(reply.content["moments"])
        arrays = {}
        if "audit" in reply.content.array_records:
            arrays = {k: v.numpy() for k, v in reply.content["audit"].items()}
        answers[site] = (metrics, lists, arrays)
        node_of[site] = reply.metadata.src_node_id
    return answers, node_of


def make_server_app(
    config: FederationConfig | None = None,
    sink: Callable[[dict[str, Any]], None] | None = None,
    on_round: Callable[[RoundRecord], None] | None = None,
    engine: str = "flower-simulation",
    model_dir: str | None = None,
):
    """The ``ServerApp``. With ``config`` None it reads the run config's ``federation`` (JSON)
    and ``model-dir``, and writes the result to its ``result-path`` (Deployment Engine);
    otherwise the result goes to ``sink``. The final model is saved in the model folder
    (none: not saved)."""
    require_flower()
    from flwr.app import ArrayRecord
    from flwr.app.message.array import Array
    from flwr.serverapp import ServerApp

    app = ServerApp()

    @app.main()
    def main(grid, context) -> None:
        start = time.perf_counter()
        cfg = config
        if cfg is None:
            cfg = federation_from_dict(json.loads(str(context.run_config["federation"])))
        server = FederatedServer(cfg)
        strategy = make_strategy(server, on_round)
        initial = ArrayRecord(
            array_dict={k: Array(np.asarray(v)) for k, v in server.weights.items()}
        )
        strategy.start(grid=grid, initial_arrays=initial, num_rounds=cfg.rounds)
        folder = model_dir if config is not None else str(context.run_config["model-dir"])
        if folder:
            server.save_model(folder)
        result = server.result(engine, time.perf_counter() - start)
        if sink is not None:
            sink(result)
        else:
            path = str(context.run_config["result-path"])
            with open(path + ".partial", "w") as handle:
                json.dump(result, handle)
            os.replace(path + ".partial", path)  # the waiting launcher never reads half a file

    return app
