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
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from gainnet.continual.cycle import CycleConfig, Phase
from gainnet.core.registry import build_params
from gainnet.errors import GainnetError

#: the largest cycle config read
MAX_CONFIG_BYTES = 1 << 20


def load_cycle_config(path: str | Path, **overrides) -> CycleConfig:
    """Parse ``path``; unknown keys raise an error naming the file and listing known keys."""
    path = Path(path)
    if path.is_dir():
        raise GainnetError(f"{path} is a directory, not a cycle config")
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise GainnetError(f"{path} is larger than {MAX_CONFIG_BYTES >> 20} MiB")
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise GainnetError(f"no such cycle config: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise GainnetError(f"{path} is not valid TOML: {exc}") from None
    phases = data.pop("phases", None)
    if not isinstance(phases, list) or not phases:
        raise GainnetError(f"{path} needs at least one [[phases]] table")
    built = tuple(
        build_params(Phase, p, f"[[phases]] number {i} in {path}") for i, p in enumerate(phases, 1)
    )
    data.update(overrides)
    return build_params(CycleConfig, {**data, "phases": built}, f"cycle config {path}")
