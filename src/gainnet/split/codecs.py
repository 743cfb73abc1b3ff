"""Activation codecs: how the hidden state ``[n, tokens, width]`` crosses the link.

``fp32`` is exact, ``fp16`` halves the bytes, ``int8`` quantises each token affinely
(``x ~ q * scale + offset`` with ``q`` in -128..127, one float32 scale and offset per token):
a quarter of the bytes plus 8 bytes per token.
"""

from __future__ import annotations

import numpy as np

from gainnet.errors import GainnetError, UnknownNameError

CODECS = ("fp32", "fp16", "int8")
FP16_MAX = float(np.finfo(np.float16).max)


def check_codec(name: str) -> str:
    if name not in CODECS:
        raise UnknownNameError("codec", name, CODECS)
    return name


def encode(hidden: np.ndarray, codec: str) -> dict[str, np.ndarray]:
    """Encode float32 ``hidden`` ``[..., width]`` into named arrays for the wire."""
    check_codec(codec)
    hidden = np.ascontiguousarray(hidden, dtype=np.float32)
    if not np.isfinite(hidden).all():
        raise GainnetError("activation contains NaN or inf")
    if codec == "fp32":
        return {"hidden": hidden}
    if codec == "fp16":
        if hidden.size and np.abs(hidden).max() > FP16_MAX:
            raise GainnetError("activation exceeds the fp16 range; use fp32 or int8")
        return {"hidden": hidden.astype(np.float16)}
    # float64 for the span: max - min of finite float32 values can overflow float32
    low = hidden.min(axis=-1, keepdims=True).astype(np.float64)
    span = hidden.max(axis=-1, keepdims=True) - low
    scale = (span / 255.0).astype(np.float32)
    scale[scale == 0] = 1.0  # constant token, or a span too small for float32: decodes to low
    q = np.rint((hidden - low) / scale.astype(np.float64)) - 128.0
    q = np.clip(q, -128, 127).astype(np.int8)
    return {"hidden": q, "scale": scale[..., 0], "offset": low[..., 0].astype(np.float32)}


def decode(arrays: dict[str, np.ndarray], codec: str) -> np.ndarray:
    """Inverse of :func:`encode`: float32 ``[..., width]``; checks names, dtypes and shapes."""
    check_codec(codec)
    expected = {"fp32": np.float32, "fp16": np.float16, "int8": np.int8}[codec]
    hidden = arrays.get("hidden")
    if hidden is None or hidden.dtype != expected or hidden.ndim < 2:
        raise GainnetError(f"codec {codec} expects a 'hidden' array of {np.dtype(expected).name}")
    if codec != "int8":
        out = hidden.astype(np.float32)
    else:
        scale, offset = arrays.get("scale"), arrays.get("offset")
        if scale is None or offset is None:
            raise GainnetError("int8 codec needs 'scale' and 'offset' arrays")
        if scale.shape != hidden.shape[:-1] or offset.shape != hidden.shape[:-1]:
            raise GainnetError(
                f"int8 scale/offset must be {hidden.shape[:-1]}, got {scale.shape}/{offset.shape}"
            )
        steps = hidden.astype(np.float64) + 128.0
        out = (steps * scale[..., None] + offset[..., None]).astype(np.float32)
    if not np.isfinite(out).all():
        raise GainnetError("decoded activation contains NaN or inf")
    return out


def max_abs_error_bound(arrays: dict[str, np.ndarray], codec: str) -> np.ndarray:
    """Worst-case absolute error per token of a decoded int8 activation: ``scale / 2``."""
    if codec != "int8":
        raise GainnetError("the per-token bound is defined for int8")
    return arrays["scale"] / 2.0
