"""Flower's Simulation Engine: the federation's ``ServerApp`` and ``ClientApp``
(:mod:`gainnet.federated.flower_engine`) on Ray, one CPU per site actor.

Flower and Ray run in a spawned child process, so every process Ray starts ends with the run
and its memory (about 850 MiB) is returned; the round records come back through a queue.
Flower 1.42 marks ``flwr.simulation.run_simulation`` deprecated in favour of ``flwr run``
(it still works and is what this module calls).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gainnet.errors import GainnetError
from gainnet.federated.config import FederationConfig, federation_from_dict
from gainnet.federated.flower_engine import make_client_app, make_server_app, require_flower
from gainnet.federated.server import RoundRecord


def run_flower_simulation(
    config: FederationConfig,
    on_round: Callable[[RoundRecord], None] | None = None,
    model_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Run the federation on Flower's Simulation Engine (Ray, one CPU per site actor);
    returns :meth:`FederatedServer.result` with ``engine = "flower-simulation"``.

    Flower and Ray run in a child process (spawned), so every process Ray starts ends with it
    and its memory (about 850 MiB) is returned; round records come back through a queue."""
    require_flower()
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    folder = "" if model_dir is None else str(model_dir)
    child = context.Process(target=_simulation_child, args=(config.to_json(), queue, folder))
    start = time.perf_counter()
    child.start()
    result: dict[str, Any] | None = None
    failure = None
    try:
        while result is None and failure is None:
            try:
                kind, value = queue.get(timeout=1.0)
            except Exception:  # queue.Empty: is the child still alive?
                if not child.is_alive():
                    failure = f"the Flower simulation process died (exit code {child.exitcode})"
                continue
            if kind == "round" and on_round is not None:
                on_round(RoundRecord(**value))
            elif kind == "result":
                result = value
            elif kind == "error":
                failure = value
    finally:
        child.join(timeout=30)
        if child.is_alive():
            child.kill()
            child.join()
        queue.close()
    if failure is not None:
        raise GainnetError(failure)
    result["wall_s"] = time.perf_counter() - start
    return result


def _simulation_child(config_json: str, queue, model_dir: str) -> None:
    """The spawned process of :func:`run_flower_simulation`."""
    import dataclasses

    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        from flwr.simulation import run_simulation

        config = federation_from_dict(json.loads(config_json))
        holder: dict[str, Any] = {}
        with quiet_flower():
            run_simulation(
                server_app=make_server_app(
                    config,
                    holder.update,
                    lambda record: queue.put(("round", dataclasses.asdict(record))),
                    model_dir=model_dir,
                ),
                client_app=make_client_app(config),
                num_supernodes=len(config.sites),
                backend_config={
                    "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                    "init_args": {
                        "num_cpus": min(2, os.cpu_count() or 1),
                        "include_dashboard": False,
                    },
                },
            )
        if "rounds" not in holder:
            queue.put(("error", "the Flower simulation ended without a result"))
        else:
            queue.put(("result", holder))
    except Exception as exc:  # reported to the parent as one line
        queue.put(("error", f"Flower simulation failed: {type(exc).__name__}: {exc}"))


class quiet_flower:
    """Flower's log down to errors while a run lasts: its per-round banners, and the warnings
    this use of it always raises (``run_simulation`` deprecated, federated evaluation off:
    gainnet evaluates on the server), say nothing a gainnet user can act on."""

    def __enter__(self) -> None:
        self.logger = logging.getLogger("flwr")
        self.level = self.logger.level
        self.logger.setLevel(logging.ERROR)

    def __exit__(self, *exc: object) -> None:
        self.logger.setLevel(self.level)
