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
    return validate_checkpoint_meta(meta, str(meta_path))


def validate_checkpoint_meta(meta: object, where: str) -> dict:
    """Check a ``solver.json`` dict's format, version and field types; ``where`` names it."""
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{where} is not a {CHECKPOINT_FORMAT} description")
    if meta.get("format_version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{where} has format_version {meta.get('format_version')!r}; "
            f"this gainnet reads {CHECKPOINT_VERSION}"
        )
    for key in ("solver", "seed", "config", "scenario"):
        if key not in meta:
            raise CheckpointError(f"{where} lacks the field {key!r}")
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
            raise CheckpointError(f"{where} has a malformed {key!r} field: {meta.get(key)!r}")
    return meta


def solver_from_checkpoint(meta: dict, weights: bytes, where: str) -> Solver:
    """Rebuild a solver from a validated ``solver.json`` dict and safetensors ``weights`` bytes.

    Raises :class:`CheckpointError` when the solver cannot be rebuilt, the bytes are not a
    safetensors file, or the tensors do not fit the solver's architecture.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    from gainnet.registry import make_scenario, make_solver

    try:
        scenario = make_scenario(meta["scenario"]["name"], **meta["scenario"]["params"])
        solver = make_solver(meta["solver"], scenario, seed=meta["seed"], **meta["config"])
    except (GainnetError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{where}: cannot rebuild the saved solver: {exc}") from None
    try:
        tensors = load(weights)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{where}: the weights are corrupt: {exc}") from None
    if sorted(tensors) != sorted(meta.get("tensors", [])):
        raise CheckpointError(f"{where} does not hold the tensors solver.json lists")
    try:
        solver.load_weights(tensors)
    except (RuntimeError, KeyError, GainnetError) as exc:
        raise CheckpointError(f"{where} does not fit solver {meta['solver']!r}: {exc}") from None
    solver.fitted = bool(meta.get("fitted", True))
    return solver


def load_solver(path: str | Path) -> Solver:
    """Rebuild a solver (and its scenario) from a directory written by ``Solver.save``.

    Raises
    ------
    CheckpointError
        When the directory is missing files, the JSON is malformed, the weights file is
        corrupt, or the tensors do not match the solver's architecture.
    """
    root = Path(path)
    meta = read_checkpoint_meta(root)
    weights_path = root / "weights.safetensors"
    if not weights_path.is_file():
        raise CheckpointError(f"{root}: weights.safetensors is missing")
    return solver_from_checkpoint(meta, weights_path.read_bytes(), str(weights_path))
