"""Reading a :class:`~gainnet.continual.cycle.CycleConfig` from TOML.

Top-level keys are ``CycleConfig`` fields; phases are an array of tables::

    database = "runs/aigx/cycle.sqlite"
    decisions_per_round = 200
    [solver_params]
    hidden = 128
    [[phases]]
    name = "T1"
    rounds = 10
    preset = "aigx-t1"
    [[phases]]
    name = "T2 rainstorm"
    rounds = 20
    preset = "aigx-t2"

Channel datasets the phases draw from (``params = { channel_dataset = "data/umi" }``) can be
listed as ``[[datasets]]`` tables; ``gainnet cycle`` generates each (or checks and reuses it)
before the cycle starts::

    [[datasets]]
    out = "data/umi"
    model = "umi"
    num = 5000
    settings = { num_bs_antennas = 8, num_subcarriers = 240 }
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from gainnet.continual.cycle import CycleConfig, Phase
from gainnet.core.registry import build_params
from gainnet.core.toml_file import read_toml
from gainnet.core.validation import Validated, setting
from gainnet.errors import GainnetError

#: the most channels one dataset of a cycle config may ask for
MAX_DATASET_CHANNELS = 1_000_000


@dataclasses.dataclass(frozen=True)
class DatasetRequest(Validated):
    """A ``[[datasets]]`` table: a channel dataset to generate (or reuse) in ``out``."""

    out: str
    model: str
    num: int = setting(1000, low=1, high=MAX_DATASET_CHANNELS)
    seed: int = setting(0, low=0, high=2**62)
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)

    def channel_config(self):
        from gainnet.channels.config import ChannelConfig

        values = {"model": self.model, **self.settings}
        return build_params(ChannelConfig, values, f"dataset {self.out}")


def load_cycle_config(path: str | Path, **overrides) -> CycleConfig:
    """Parse ``path``; unknown keys raise an error naming the file and listing known keys."""
    data = _read(path)
    data.pop("datasets", None)
    phases = data.pop("phases", None)
    if not isinstance(phases, list) or not phases:
        raise GainnetError(f"{path} needs at least one [[phases]] table")
    built = tuple(
        build_params(Phase, p, f"[[phases]] number {i} in {path}") for i, p in enumerate(phases, 1)
    )
    data.update(overrides)
    return build_params(CycleConfig, {**data, "phases": built}, f"cycle config {path}")


def dataset_requests(path: str | Path) -> list[DatasetRequest]:
    """The ``[[datasets]]`` of ``path``, each validated (its channel settings too)."""
    tables = _read(path).get("datasets", [])
    if not isinstance(tables, list):
        raise GainnetError(f"{path}: datasets must be [[datasets]] tables")
    requests = []
    for i, table in enumerate(tables, 1):
        request = build_params(DatasetRequest, table, f"[[datasets]] number {i} in {path}")
        request.channel_config()
        requests.append(request)
    return requests


def _read(path: str | Path) -> dict:
    return read_toml(path, "cycle config")
