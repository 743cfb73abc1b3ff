"""Loading solvers saved by :meth:`gainnet.Solver.save` (safetensors + JSON, never pickle)."""

from __future__ import annotations

import json
from pathlib import Path

from gainnet.core.solver import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, Solver
from gainnet.errors import CheckpointError, GainnetError


def read_checkpoint_meta(path: str | Path) -> dict:
    """The validated ``solver.json`` of a saved solver directory."""
    root = Path(path)
    meta_path = root / "solver.json"
    if not meta_path.is_file():
        raise CheckpointError(f"{root} is not a saved solver: {meta_path.name} is missing")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{meta_path} is not valid JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{meta_path} is not a {CHECKPOINT_FORMAT} description")
    if meta.get("format_version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{meta_path} has format_version {meta.get('format_version')!r}; "
            f"this gainnet reads {CHECKPOINT_VERSION}"
        )
    for key in ("solver", "seed", "config", "scenario"):
        if key not in meta:
            raise CheckpointError(f"{meta_path} lacks the field {key!r}")
    scenario = meta["scenario"]
    checks = {
        "solver": isinstance(meta["solver"], str),
        "seed": isinstance(meta["seed"], int) and not isinstance(meta["seed"], bool),
        "config": isinstance(meta["config"], dict),
        "scenario": isinstance(scenario, dict)
        and isinstance(scenario.get("name"), str)
        and isinstance(scenario.get("params"), dict),
        "tensors": isinstance(meta.get("tensors", []), list)
        and all(isinstance(t, str) for t in meta.get("tensors", [])),
    }
    for key, ok in checks.items():
        if not ok:
            raise CheckpointError(f"{meta_path} has a malformed {key!r} field: {meta.get(key)!r}")
    return meta


def load_solver(path: str | Path) -> Solver:
    """Rebuild a solver (and its scenario) from a directory written by ``Solver.save``.

    Raises
    ------
    CheckpointError
        When the directory is missing files, the JSON is malformed, the weights file is
        corrupt, or the tensors do not match the solver's architecture.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from gainnet.registry import make_scenario, make_solver

    root = Path(path)
    meta = read_checkpoint_meta(root)
    try:
        scenario = make_scenario(meta["scenario"]["name"], **meta["scenario"]["params"])
        solver = make_solver(meta["solver"], scenario, seed=meta["seed"], **meta["config"])
    except (GainnetError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{root}: cannot rebuild the saved solver: {exc}") from None
    weights_path = root / "weights.safetensors"
    if not weights_path.is_file():
        raise CheckpointError(f"{root}: weights.safetensors is missing")
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights_path} is corrupt: {exc}") from None
    if sorted(tensors) != sorted(meta.get("tensors", [])):
        raise CheckpointError(f"{weights_path} does not hold the tensors solver.json lists")
    try:
        solver.load_weights(tensors)
    except (RuntimeError, KeyError, GainnetError) as exc:
        raise CheckpointError(
            f"{weights_path} does not fit solver {meta['solver']!r}: {exc}"
        ) from None
    solver.fitted = bool(meta.get("fitted", True))
    return solver
