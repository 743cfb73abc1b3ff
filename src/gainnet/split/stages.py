"""Timing of an encoder's stages and sizes of what each split point sends."""

from __future__ import annotations

import time

import numpy as np
import torch

from gainnet.errors import GainnetError
from gainnet.split import codecs
from gainnet.split.encoder import RAW_SPLIT, SplitEncoder
from gainnet.split.protocol import Frame, MessageType, encode_frame


@torch.inference_mode()
def time_stages(encoder: SplitEncoder, raw: dict[str, np.ndarray], repeats: int = 5) -> dict:
    """Median seconds of the input stage, of each layer and of the head on ``raw``.

    Returns ``{"input_s": float, "layer_s": [L floats], "head_s": float,
    "decode_s": {codec: float}, "encode_s": {codec: float}}`` (codec times are for the
    activation's shape).
    """
    if not isinstance(repeats, int) or repeats < 1:
        raise GainnetError(f"repeats must be a positive integer, got {repeats!r}")
    samples: dict[str, list[float]] = {}

    def timed(key: str, fn, *args):
        start = time.perf_counter()
        result = fn(*args)
        samples.setdefault(key, []).append(time.perf_counter() - start)
        return result

    for rep in range(int(repeats) + 1):  # the first pass warms up and is dropped
        act = timed("input", encoder.stage_input, raw)
        for i in range(encoder.num_layers):
            act = timed(f"layer{i}", encoder.run_layers, act, i, i + 1)
        timed("head", encoder.head, act)
        hidden = act.hidden.numpy()
        for codec in codecs.CODECS:
            arrays = timed(f"encode_{codec}", codecs.encode, hidden, codec)
            timed(f"decode_{codec}", codecs.decode, arrays, codec)
        if rep == 0:
            samples.clear()

    def med(key: str) -> float:
        return float(np.median(samples[key]))

    return {
        "input_s": med("input"),
        "layer_s": [med(f"layer{i}") for i in range(encoder.num_layers)],
        "head_s": med("head"),
        "encode_s": {c: med(f"encode_{c}") for c in codecs.CODECS},
        "decode_s": {c: med(f"decode_{c}") for c in codecs.CODECS},
    }


def request_arrays(
    encoder: SplitEncoder, raw: dict[str, np.ndarray], split: int, codec: str
) -> dict[str, np.ndarray]:
    """The arrays a device sends for ``split`` and ``codec`` (runs the device part)."""
    act = encoder.device_part(raw, split)
    if act is None:
        return dict(raw)
    arrays = codecs.encode(act.hidden.numpy(), codec)
    if act.mask is not None:
        arrays["mask"] = act.mask.numpy()
    return arrays


def request_bytes(encoder: SplitEncoder, raw: dict[str, np.ndarray], meta: dict) -> dict:
    """Frame bytes on the wire for every split point and codec: ``{codec: {split: bytes}}``.

    Computed from shapes (zeros), so it costs no model compute.
    """
    act = encoder.device_part(raw, 0)
    zeros = np.zeros_like(act.hidden.numpy())
    sizes: dict[str, dict[str, int]] = {}
    for codec in codecs.CODECS:
        arrays = codecs.encode(zeros, codec)
        if act.mask is not None:
            arrays["mask"] = act.mask.numpy()
        size = len(encode_frame(Frame(MessageType.REQUEST, 0, meta, arrays)))
        sizes[codec] = {str(k): size for k in range(encoder.num_layers + 1)}
        sizes[codec][str(RAW_SPLIT)] = len(encode_frame(Frame(MessageType.REQUEST, 0, meta, raw)))
    return sizes
