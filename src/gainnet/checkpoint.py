"""Loading solvers saved by :meth:`gainnet.Solver.save` (safetensors + JSON, never pickle).

Loading checks, in this order and before any tensor of the file is allocated: the
``SHA256SUMS`` manifest (every file as written), the JSON's format and field types, the
solver's config and the scenario's parameters (types, ranges and size bounds, through the
same validation as every other entry point), and the safetensors header against the tensors
the rebuilt solver has (names, dtypes and shapes exactly). Then the tensors are read and
refused unless every value is finite. Every refusal is one :class:`CheckpointError` naming
the file and what is wrong.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from gainnet.core.integrity import verify_manifest
from gainnet.core.solver import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, Solver
from gainnet.errors import CheckpointError, GainnetError

META_FILE = "solver.json"
WEIGHTS_FILE = "weights.safetensors"
#: the largest solver.json read
MAX_META_BYTES = 16 << 20
#: the largest safetensors header read (names, dtypes, shapes and offsets)
MAX_HEADER_BYTES = 16 << 20
_SAFETENSORS_DTYPES = {
    "float64": "F64",
    "float32": "F32",
    "float16": "F16",
    "bfloat16": "BF16",
    "int64": "I64",
    "int32": "I32",
    "int16": "I16",
    "int8": "I8",
    "uint8": "U8",
    "bool": "BOOL",
}


def read_checkpoint_meta(path: str | Path) -> dict:
    """The validated ``solver.json`` of a saved solver directory."""
    root = Path(path)
    meta_path = root / META_FILE
    if not meta_path.is_file():
        raise CheckpointError(f"{root} is not a saved solver: {meta_path.name} is missing")
    if meta_path.stat().st_size > MAX_META_BYTES:
        raise CheckpointError(f"{meta_path} is larger than {MAX_META_BYTES >> 20} MiB")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
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


def safetensors_header(weights: bytes, where: str) -> dict[str, tuple[str, tuple[int, ...]]]:
    """``{tensor name: (dtype, shape)}`` read from a safetensors file's header only.

    The header is an 8-byte little-endian length and a JSON object; nothing else is parsed.
    """
    if len(weights) < 8:
        raise CheckpointError(f"{where}: the weights are corrupt: the file is too short")
    (length,) = struct.unpack("<Q", weights[:8])
    if length > min(MAX_HEADER_BYTES, len(weights) - 8):
        raise CheckpointError(f"{where}: the weights are corrupt: bad header length {length}")
    try:
        header = json.loads(weights[8 : 8 + length])
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise CheckpointError(f"{where}: the weights are corrupt: unreadable header") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{where}: the weights are corrupt: the header is not an object")
    found = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        shape = entry.get("shape") if isinstance(entry, dict) else None
        dtype = entry.get("dtype") if isinstance(entry, dict) else None
        if not isinstance(dtype, str) or not isinstance(shape, list):
            raise CheckpointError(f"{where}: the weights are corrupt: bad entry {name!r}")
        if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise CheckpointError(f"{where}: the weights are corrupt: bad shape of {name!r}")
        found[name] = (dtype, tuple(shape))
    return found


def tensor_header(tensors: dict) -> dict[str, tuple[str, tuple[int, ...]]]:
    """``{name: (safetensors dtype, shape)}`` of torch tensors, to compare with
    :func:`safetensors_header`."""
    expected = {}
    for name, tensor in tensors.items():
        dtype = _SAFETENSORS_DTYPES.get(str(tensor.dtype).removeprefix("torch."), "?")
        expected[name] = (dtype, tuple(tensor.shape))
    return expected


def check_header_fits(
    expected: dict[str, tuple[str, tuple[int, ...]]],
    found: dict[str, tuple[str, tuple[int, ...]]],
    where: str,
    what: str,
) -> None:
    """Refuse a header whose tensor names, dtypes or shapes differ from ``expected``
    (``what`` names the model in the message, e.g. ``"solver 'gdm'"``)."""
    if sorted(found) != sorted(expected):
        missing, extra = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
        parts = [f"missing {missing[:3]}"] if missing else []
        parts += [f"unexpected {extra[:3]}"] if extra else []
        raise CheckpointError(f"{where} does not fit {what}: tensors " + ", ".join(parts))
    for name, (dtype, shape) in expected.items():
        if found[name] != (dtype, shape):
            raise CheckpointError(
                f"{where} does not fit {what}: tensor {name!r} is "
                f"{found[name][0]} {list(found[name][1])}, the config needs {dtype} {list(shape)}"
            )


def check_tensors_fit(
    solver: Solver, found: dict[str, tuple[str, tuple[int, ...]]], where: str
) -> None:
    """Refuse a header (:func:`safetensors_header`) whose tensor names, dtypes or shapes
    differ from ``solver``'s own."""
    check_header_fits(tensor_header(solver.weights()), found, where, f"solver {solver.name!r}")


def solver_from_checkpoint(
    meta: dict, weights: bytes, where: str, meta_where: str | None = None
) -> Solver:
    """Rebuild a solver from a validated ``solver.json`` dict and safetensors ``weights`` bytes.

    Raises :class:`CheckpointError` when the solver cannot be rebuilt (a config or scenario
    parameter out of range), the bytes are not a safetensors file, the tensors do not match
    the solver's architecture exactly, or a weight is not finite. ``where`` names the weights
    and ``meta_where`` (default: ``where``) the description in messages.
    """
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load

    from gainnet.registry import make_scenario, make_solver

    try:
        scenario = make_scenario(meta["scenario"]["name"], **meta["scenario"]["params"])
        solver = make_solver(meta["solver"], scenario, seed=meta["seed"], **meta["config"])
    except (GainnetError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"{meta_where or where}: cannot rebuild the saved solver: {exc}"
        ) from None
    header = safetensors_header(weights, where)
    if sorted(header) != sorted(meta.get("tensors", [])):
        raise CheckpointError(f"{where} does not hold the tensors solver.json lists")
    check_tensors_fit(solver, header, where)
    try:
        tensors = load(weights)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{where}: the weights are corrupt: {exc}") from None
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{where}: tensor {name!r} holds NaN or infinite values")
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
        When the directory is missing files, a file does not match ``SHA256SUMS``, the JSON
        is malformed or out of range, the weights file is corrupt, the tensors do not match
        the solver's architecture, or a weight is not finite.
    """
    root = Path(path)
    if not (root / META_FILE).is_file():
        raise CheckpointError(f"{root} is not a saved solver: {META_FILE} is missing")
    weights_path = root / WEIGHTS_FILE
    if not weights_path.is_file():
        raise CheckpointError(f"{root}: {WEIGHTS_FILE} is missing")
    verify_manifest(root, (META_FILE, WEIGHTS_FILE))
    meta = read_checkpoint_meta(root)
    weights = weights_path.read_bytes()
    return solver_from_checkpoint(meta, weights, str(weights_path), str(root / META_FILE))
