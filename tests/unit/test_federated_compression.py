"""Uplink update compression: round trips, sizes, and malformed payloads."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from gainnet.errors import GainnetError
from gainnet.federated.compression import (
    SCALES_KEY,
    decode,
    encode,
    expected_bytes,
    payload_bytes,
)

SHAPES = {"w": (6, 7), "b": (5,), "one": (1,)}


def weights_pair(seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``(reference, new)`` float32 weights; every update entry has a distinct magnitude."""
    rng = np.random.default_rng(seed)
    reference = {k: rng.standard_normal(s).astype(np.float32) for k, s in SHAPES.items()}
    new = {}
    for k, s in SHAPES.items():
        size = math.prod(s)
        magnitude = (np.arange(1, size + 1) / size)[rng.permutation(size)]
        delta = magnitude * rng.choice([-1.0, 1.0], size)
        new[k] = (reference[k] + delta.reshape(s)).astype(np.float32)
    return reference, new


def test_none_round_trip_is_exact():
    reference, new = weights_pair()
    payload = encode(new, reference, "none")
    assert payload_bytes(payload) == sum(4 * math.prod(s) for s in SHAPES.values())
    out = decode(payload, reference, "none")
    assert list(out) == list(reference)
    for k in reference:
        assert out[k].dtype == np.float32
        np.testing.assert_array_equal(out[k], new[k])


def test_int8_round_trip_error_is_at_most_half_a_step():
    reference, new = weights_pair(1)
    payload = encode(new, reference, "int8")
    assert set(payload) == {*SHAPES, SCALES_KEY}
    assert payload[SCALES_KEY].dtype == np.float32 and payload[SCALES_KEY].shape == (len(SHAPES),)
    size = sum(math.prod(s) for s in SHAPES.values())
    assert payload_bytes(payload) == size + 4 * len(SHAPES)  # 1/4 of float32, plus the scales
    out = decode(payload, reference, "int8")
    for scale, k in zip(payload[SCALES_KEY], reference, strict=True):
        assert payload[k].dtype == np.int8
        delta = np.abs(new[k].astype(np.float64) - reference[k])
        assert scale == pytest.approx(delta.max() / 127, rel=1e-6)
        assert np.abs(payload[k]).max() == 127
        rounding = 4 * np.finfo(np.float32).eps * np.abs(new[k]).max()  # the float32 cast
        assert out[k].shape == reference[k].shape and out[k].dtype == np.float32
        assert np.all(np.abs(out[k].astype(np.float64) - new[k]) <= scale / 2 + rounding)


def test_int8_of_no_change_is_the_reference():
    reference, _ = weights_pair(2)
    payload = encode(reference, reference, "int8")
    assert np.all(payload[SCALES_KEY] == 0)
    out = decode(payload, reference, "int8")
    for k in reference:
        np.testing.assert_array_equal(out[k], reference[k])


@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.3, 1.0])
def test_top_k_keeps_the_largest_entries(fraction):
    reference, new = weights_pair(3)
    payload = encode(new, reference, "top-k", fraction)
    assert set(payload) == {f"{k}.{p}" for k in SHAPES for p in ("idx", "val")}
    out = decode(payload, reference, "top-k")
    kept_total = 0
    for k, shape in SHAPES.items():
        size = math.prod(shape)
        keep = max(1, math.ceil(fraction * size))
        kept_total += keep
        index = payload[f"{k}.idx"]
        assert index.dtype == np.int32 and payload[f"{k}.val"].dtype == np.float32
        delta = (new[k].astype(np.float64) - reference[k]).ravel()
        largest = np.argsort(-np.abs(delta))[:keep]
        assert sorted(index.tolist()) == sorted(largest.tolist())
        flat_out, flat_ref, flat_new = out[k].ravel(), reference[k].ravel(), new[k].ravel()
        dropped = np.setdiff1d(np.arange(size), index)
        np.testing.assert_array_equal(flat_out[dropped], flat_ref[dropped])
        np.testing.assert_allclose(flat_out[index], flat_new[index], rtol=1e-6, atol=1e-6)
    assert payload_bytes(payload) == 8 * kept_total


@pytest.mark.parametrize("method", ["none", "int8", "top-k"])
@pytest.mark.parametrize("fraction", [0.001, 0.1, 0.55, 1.0])
def test_expected_bytes_is_the_payload_size(method, fraction):
    reference, new = weights_pair(4)
    payload = encode(new, reference, method, fraction)
    assert expected_bytes(reference, method, fraction) == payload_bytes(payload)


def test_payload_bytes():
    assert payload_bytes({}) == 0
    payload = {"a": np.zeros(3, np.float32), "b": np.zeros((2, 2), np.int8), "c": np.zeros(1)}
    assert payload_bytes(payload) == 12 + 4 + 8


# --------------------------------------------------------------------- malformed payloads
def malformed_cases() -> list:
    reference, new = weights_pair(5)
    cases = []
    for method in ("none", "int8", "top-k"):
        good = encode(new, reference, method, 0.2)
        first = next(iter(good))
        missing = {k: v for k, v in good.items() if k != first}
        cases += [
            (method, "missing tensor", missing),
            (method, "extra tensor", {**good, "extra": np.zeros(1, np.float32)}),
        ]
    none = encode(new, reference, "none")
    cases += [
        ("none", "NaN value", {**none, "w": np.full(SHAPES["w"], np.nan, np.float32)}),
        ("none", "infinite value", {**none, "b": np.full(5, np.inf, np.float32)}),
        ("none", "wrong shape", {**none, "w": np.zeros((7, 6), np.float32)}),
    ]
    int8 = encode(new, reference, "int8")
    scales = int8[SCALES_KEY]
    cases += [
        ("int8", "float tensor", {**int8, "w": int8["w"].astype(np.float32)}),
        ("int8", "int16 tensor", {**int8, "w": int8["w"].astype(np.int16)}),
        ("int8", "wrong size", {**int8, "b": np.zeros(4, np.int8)}),
        ("int8", "NaN scale", {**int8, SCALES_KEY: np.array([np.nan, 1, 1], np.float32)}),
        ("int8", "scales too short", {**int8, SCALES_KEY: scales[:2]}),
        ("int8", "scales 2-d", {**int8, SCALES_KEY: scales.reshape(1, 3)}),
        ("int8", "scales scalar", {**int8, SCALES_KEY: np.float32(1.0)}),
    ]
    top = encode(new, reference, "top-k", 0.2)
    idx, val = top["w.idx"], top["w.val"]
    cases += [
        ("top-k", "index too large", {**top, "w.idx": np.where(idx == idx.max(), 42, idx)}),
        ("top-k", "negative index", {**top, "w.idx": np.where(idx == idx.min(), -1, idx)}),
        ("top-k", "float index", {**top, "w.idx": idx.astype(np.float32)}),
        ("top-k", "2-d index", {**top, "w.idx": idx.reshape(1, -1), "w.val": val.reshape(1, -1)}),
        ("top-k", "fewer values", {**top, "w.val": val[:-1]}),
        ("top-k", "NaN value", {**top, "w.val": np.where(val == val[0], np.nan, val)}),
        ("top-k", "infinite value", {**top, "w.val": np.full_like(val, -np.inf)}),
    ]
    return [pytest.param(method, payload, id=f"{method}-{what}") for method, what, payload in cases]


@pytest.mark.parametrize(("method", "payload"), malformed_cases())
def test_malformed_payload_raises_gainnet_error(method, payload):
    reference, _ = weights_pair(5)
    with pytest.raises(GainnetError):
        decode(payload, reference, method)


def test_unknown_method_raises_gainnet_error():
    reference, new = weights_pair()
    with pytest.raises(GainnetError, match="unknown compression"):
        encode(new, reference, "fp16")
    with pytest.raises(GainnetError, match="unknown compression"):
        decode(encode(new, reference, "none"), reference, "fp16")


# Known gaps in ``decode`` (see the report that came with these tests): arrays of a
# non-numeric dtype leak TypeError / ValueError, and finite float64 values beyond float32's
# range decode to inf weights (with an overflow RuntimeWarning) instead of being refused.
def leaking_cases() -> list:
    zeros8 = {k: np.zeros(s, np.int8) for k, s in SHAPES.items()}

    def top_k(value: np.ndarray) -> dict:
        one = {"idx": np.array([0]), "val": np.array([1.0])}
        return {
            "w.idx": np.array([0]),
            "w.val": value,
            **{f"{k}.{p}": one[p] for k in ("b", "one") for p in ("idx", "val")},
        }

    return [
        pytest.param("none", {k: np.full(s, "x") for k, s in SHAPES.items()}, id="none-strings"),
        pytest.param("int8", {**zeros8, SCALES_KEY: np.array(["x"] * 3)}, id="int8-string-scales"),
        pytest.param("top-k", top_k(np.array(["x"])), id="top-k-string-values"),
        pytest.param("top-k", top_k(np.array([1j])), id="top-k-complex-values"),
    ]


@pytest.mark.parametrize(("method", "payload"), leaking_cases())
def test_payload_of_a_non_numeric_dtype_raises_gainnet_error(method, payload):
    reference, _ = weights_pair(5)
    with pytest.raises(GainnetError):
        decode(payload, reference, method)


def overflowing_cases() -> list:
    ones8 = {k: np.ones(s, np.int8) for k, s in SHAPES.items()}
    top = {
        f"{k}.{p}": np.array([0] if p == "idx" else [1e300]) for k in SHAPES for p in ("idx", "val")
    }
    return [
        pytest.param("none", {k: np.full(s, 1e300) for k, s in SHAPES.items()}, id="none"),
        pytest.param("int8", {**ones8, SCALES_KEY: np.array([1e300] * 3)}, id="int8-scales"),
        pytest.param("top-k", top, id="top-k"),
    ]


@pytest.mark.parametrize(("method", "payload"), overflowing_cases())
def test_payload_beyond_float32_is_refused_or_finite(method, payload):
    reference, _ = weights_pair(5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's "overflow encountered in cast"
        try:
            out = decode(payload, reference, method)
        except GainnetError:
            return
    assert all(np.all(np.isfinite(v)) for v in out.values())
