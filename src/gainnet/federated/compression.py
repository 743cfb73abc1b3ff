"""Uplink update compression: what a site sends instead of its full weights.

A payload is a dict of named NumPy arrays (what goes on the wire, under Flower an
``ArrayRecord``); its size is the sum of their bytes. ``encode`` compresses the update
``delta = new - global`` of every tensor, ``decode`` rebuilds ``global + delta_hat``.

- ``none``: the new float32 weights themselves.
- ``int8``: ``q = round(delta / s)`` with ``s = max|delta| / 127`` per tensor (the scales
  travel as one float32 array ``__scales__``): 4x fewer bytes.
- ``top-k``: per tensor the ``ceil(f * size)`` entries of largest ``|delta|`` as int32
  indices + float32 values; the rest of the update is dropped (no error feedback).
"""

from __future__ import annotations

import math

import numpy as np

from gainnet.errors import GainnetError

SCALES_KEY = "__scales__"


def payload_bytes(payload: dict[str, np.ndarray]) -> int:
    """Bytes of a payload's arrays."""
    return int(sum(a.nbytes for a in payload.values()))


def expected_bytes(weights: dict[str, np.ndarray], method: str, top_k_fraction: float) -> int:
    """The size of the payload :func:`encode` will make for ``weights``' shapes, known before
    training (the energy a site must have for a round, the upload a policy predicts)."""
    if method == "none":
        return payload_bytes(weights)
    if method == "int8":
        return sum(v.size for v in weights.values()) + 4 * len(weights)
    if method == "top-k":
        return sum(8 * max(1, math.ceil(top_k_fraction * v.size)) for v in weights.values())
    raise GainnetError(f"unknown compression {method!r}: none, int8 or top-k")


def encode(
    new: dict[str, np.ndarray],
    reference: dict[str, np.ndarray],
    method: str,
    top_k_fraction: float = 0.1,
) -> dict[str, np.ndarray]:
    """The payload for weights ``new`` given the ``reference`` (global) weights both ends hold."""
    if method == "none":
        return {k: np.asarray(v, dtype=np.float32) for k, v in new.items()}
    delta = {k: (np.asarray(new[k], np.float64) - reference[k]).ravel() for k in reference}
    if method == "int8":
        names = list(reference)
        scales = np.array([np.abs(delta[k]).max(initial=0.0) / 127.0 for k in names], np.float32)
        payload = {
            k: np.round(delta[k] / (s if s > 0 else 1.0)).clip(-127, 127).astype(np.int8)
            for k, s in zip(names, scales, strict=True)
        }
        payload[SCALES_KEY] = scales
        return payload
    if method == "top-k":
        payload = {}
        for k, d in delta.items():
            keep = max(1, math.ceil(top_k_fraction * d.size))
            index = np.sort(np.argpartition(np.abs(d), d.size - keep)[d.size - keep :])
            payload[f"{k}.idx"] = index.astype(np.int32)
            payload[f"{k}.val"] = d[index].astype(np.float32)
        return payload
    raise GainnetError(f"unknown compression {method!r}: none, int8 or top-k")


def decode(
    payload: dict[str, np.ndarray], reference: dict[str, np.ndarray], method: str
) -> dict[str, np.ndarray]:
    """Weights ``[same shapes as reference]`` rebuilt from a payload; a malformed payload
    (missing or extra tensors, wrong sizes, out-of-range indices, non-finite values) raises
    :class:`GainnetError`."""
    if method == "none":
        _same_keys(payload, reference)
        out = {}
        for k, ref in reference.items():
            value = _finite32(payload[k], f"update tensor {k!r}")
            if value.shape != ref.shape:
                raise GainnetError(f"update tensor {k!r} has shape {value.shape}, not {ref.shape}")
            out[k] = value.astype(np.float32)
        return out
    if method == "int8":
        _same_keys(payload, {**reference, SCALES_KEY: None})
        scales = _finite32(payload[SCALES_KEY], "int8 update scales")
        if scales.shape != (len(reference),):
            raise GainnetError("int8 update: the scales are malformed")
        out = {}
        for s, (k, ref) in zip(scales, reference.items(), strict=True):
            q = np.asarray(payload[k])
            if q.dtype != np.int8 or q.size != ref.size:
                raise GainnetError(f"int8 update tensor {k!r} is malformed")
            rebuilt = _finite32(ref + s * q.astype(np.float64).reshape(ref.shape), f"int8 {k!r}")
            out[k] = rebuilt.astype(np.float32)
        return out
    if method == "top-k":
        _same_keys(payload, {f"{k}.{p}": None for k in reference for p in ("idx", "val")})
        out = {}
        for k, ref in reference.items():
            index = np.asarray(payload[f"{k}.idx"])
            value = _finite32(payload[f"{k}.val"], f"top-k values of {k!r}")
            if (
                index.shape != value.shape
                or index.ndim != 1
                or not np.issubdtype(index.dtype, np.integer)
                or (index.size and (index.min() < 0 or index.max() >= ref.size))
                or np.unique(index).size != index.size
            ):
                raise GainnetError(f"top-k update tensor {k!r} is malformed (indices)")
            flat = np.asarray(ref, np.float64).ravel().copy()
            flat[index] += value
            out[k] = _finite32(flat.reshape(ref.shape), f"top-k {k!r}").astype(np.float32)
        return out
    raise GainnetError(f"unknown compression {method!r}: none, int8 or top-k")


def _finite32(value: object, what: str) -> np.ndarray:
    """``value`` as a float64 array of real numbers that are finite in float32."""
    try:
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"dtype {array.dtype}")
        array = array.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise GainnetError(f"{what} is not an array of real numbers ({exc})") from None
    if not np.all(np.isfinite(array)) or np.any(np.abs(array) > np.finfo(np.float32).max):
        raise GainnetError(f"{what} has values that are not finite in float32")
    return array


def _same_keys(payload: dict, expected: dict) -> None:
    if set(payload) != set(expected):
        missing, extra = sorted(set(expected) - set(payload)), sorted(set(payload) - set(expected))
        raise GainnetError(f"update payload: missing {missing[:5]}, unexpected {extra[:5]}")
