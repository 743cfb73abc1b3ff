"""One entry point for the three engines: ``run_federation(config, engine=...)``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from gainnet.errors import UnknownNameError
from gainnet.federated.config import FederationConfig
from gainnet.federated.server import RoundRecord

ENGINES = ("in-process", "flower-simulation", "flower-deployment")


def run_federation(
    config: FederationConfig,
    engine: str = "in-process",
    on_round: Callable[[RoundRecord], None] | None = None,
    work_dir: str | Path | None = None,
    model_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Train ``config``'s federation on ``engine`` (see :data:`ENGINES`); returns the run's
    dict (``final_ratio``, ``seconds_to_target``, ``bytes``, ``energy_j``, ``rounds``...).
    ``on_round`` is called after every round, except on the Deployment Engine, whose server
    runs in another process; ``work_dir`` keeps that engine's app and logs; ``model_dir``
    receives the final global model as a solver checkpoint (``gainnet evaluate`` reads it)."""
    if model_dir is not None:
        from gainnet.core.integrity import check_writable

        model_dir = check_writable(model_dir, "model directory").resolve()
    if engine == "in-process":
        from gainnet.federated.inprocess import run_inprocess

        return run_inprocess(config, on_round, model_dir)
    if engine == "flower-simulation":
        from gainnet.federated.flower_simulation import run_flower_simulation

        return run_flower_simulation(config, on_round, model_dir)
    if engine == "flower-deployment":
        from gainnet.federated.flower_deployment import run_flower_deployment

        return run_flower_deployment(config, work_dir, model_dir=model_dir)
    raise UnknownNameError("federated engine", str(engine), list(ENGINES))
