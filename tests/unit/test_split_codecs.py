"""Activation codecs: fp32 exact, fp16 within half-precision rounding, int8 within scale / 2."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gainnet.errors import GainnetError, UnknownNameError
from gainnet.split import codecs

SHAPES = [(1, 1, 1), (1, 50, 768), (3, 7, 16), (2, 5, 1), (4, 3, 33)]
FP16_REL = 2.0**-11  # half of fp16's unit roundoff spacing: round-to-nearest relative error
FP16_SUBNORMAL_ABS = 2.0**-25  # half the smallest fp16 subnormal


def random_hidden(shape, seed: int, scale: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def int8_tolerance(arrays: dict[str, np.ndarray], original: np.ndarray) -> np.ndarray:
    """scale / 2 per token, plus float32 rounding of the decode arithmetic."""
    bound = codecs.max_abs_error_bound(arrays, "int8")[..., None]
    magnitude = np.abs(original).max(axis=-1, keepdims=True)
    eps, tiny = np.finfo(np.float32).eps, np.finfo(np.float32).smallest_subnormal
    return bound + 4 * eps * (magnitude + bound * 256) + 4 * tiny


# ---------------------------------------------------------------------------- fp32
@pytest.mark.parametrize("shape", SHAPES)
def test_fp32_round_trip_is_bitwise(shape):
    hidden = random_hidden(shape, seed=1, scale=10.0)
    arrays = codecs.encode(hidden, "fp32")
    assert set(arrays) == {"hidden"} and arrays["hidden"].dtype == np.float32
    out = codecs.decode(arrays, "fp32")
    assert out.dtype == np.float32 and out.shape == shape
    assert out.tobytes() == hidden.tobytes()


def test_fp32_encode_accepts_other_float_inputs_as_float32():
    hidden = random_hidden((2, 3, 4), seed=2).astype(np.float64)
    out = codecs.decode(codecs.encode(hidden, "fp32"), "fp32")
    assert out.dtype == np.float32
    assert np.array_equal(out, hidden.astype(np.float32))


# ---------------------------------------------------------------------------- fp16
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("scale", [1e-3, 1.0, 100.0, 1e4])
def test_fp16_error_is_within_half_precision_rounding(shape, scale):
    hidden = random_hidden(shape, seed=3, scale=scale)
    arrays = codecs.encode(hidden, "fp16")
    assert arrays["hidden"].dtype == np.float16
    assert arrays["hidden"].nbytes * 2 == hidden.nbytes
    out = codecs.decode(arrays, "fp16")
    assert out.dtype == np.float32 and out.shape == shape
    err = np.abs(out.astype(np.float64) - hidden.astype(np.float64))
    assert (err <= FP16_REL * np.abs(hidden) + FP16_SUBNORMAL_ABS).all()


@given(
    hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=6),
        elements=st.floats(-65504.0, 65504.0, width=32),
    )
)
def test_fp16_error_property(hidden):
    out = codecs.decode(codecs.encode(hidden, "fp16"), "fp16")
    err = np.abs(out.astype(np.float64) - hidden.astype(np.float64))
    assert (err <= FP16_REL * np.abs(hidden) + FP16_SUBNORMAL_ABS).all()


@pytest.mark.parametrize("value", [65505.0, 7e4, -1e5, 3e38])
def test_fp16_overflow_is_refused(value):
    hidden = random_hidden((1, 4, 8), seed=4)
    hidden[0, 2, 3] = value
    with pytest.raises(GainnetError, match="fp16"):
        codecs.encode(hidden, "fp16")


def test_fp16_largest_finite_value_is_kept():
    hidden = np.array([[[65504.0, -65504.0, 0.0]]], dtype=np.float32)
    assert np.array_equal(codecs.decode(codecs.encode(hidden, "fp16"), "fp16"), hidden)


# ---------------------------------------------------------------------------- int8
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("scale", [1e-4, 1.0, 50.0, 1e6])
def test_int8_per_token_error_is_at_most_half_a_step(shape, scale):
    hidden = random_hidden(shape, seed=5, scale=scale)
    arrays = codecs.encode(hidden, "int8")
    assert arrays["hidden"].dtype == np.int8 and arrays["hidden"].shape == shape
    assert arrays["scale"].dtype == np.float32 and arrays["scale"].shape == shape[:-1]
    assert arrays["offset"].dtype == np.float32 and arrays["offset"].shape == shape[:-1]
    out = codecs.decode(arrays, "int8")
    assert out.dtype == np.float32 and out.shape == shape
    err = np.abs(out.astype(np.float64) - hidden.astype(np.float64))
    assert (err <= int8_tolerance(arrays, hidden)).all()
    # the bound is per token: each token's worst error stays within its own half step
    per_token = err.max(axis=-1)
    assert (per_token <= int8_tolerance(arrays, hidden)[..., 0]).all()


def test_int8_uses_the_full_code_range():
    hidden = random_hidden((2, 6, 32), seed=6)
    q = codecs.encode(hidden, "int8")["hidden"]
    assert (q.min(axis=-1) == -128).all() and (q.max(axis=-1) == 127).all()


@given(
    hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=6),
        # no magnitudes below 1e-30, so no span underflows to a zero scale
        elements=st.floats(-(2.0**100), 2.0**100, width=32).filter(
            lambda v: v == 0 or abs(v) >= 1e-30
        ),
    )
)
def test_int8_error_property(hidden):
    arrays = codecs.encode(hidden, "int8")
    out = codecs.decode(arrays, "int8")
    err = np.abs(out.astype(np.float64) - hidden.astype(np.float64))
    assert (err <= int8_tolerance(arrays, hidden)).all()


@pytest.mark.parametrize("value", [0.0, -3.5, 1e6, 1e-30])
def test_int8_constant_tokens_decode_exactly(value):
    hidden = random_hidden((2, 4, 16), seed=7)
    hidden[0, 1, :] = value
    hidden[1, 3, :] = -value
    arrays = codecs.encode(hidden, "int8")
    out = codecs.decode(arrays, "int8")
    assert np.array_equal(out[0, 1], hidden[0, 1])
    assert np.array_equal(out[1, 3], hidden[1, 3])
    assert codecs.max_abs_error_bound(arrays, "int8")[0, 1] == 0.5  # span 0: scale 1


def test_int8_all_constant_activation_decodes_exactly():
    hidden = np.full((3, 5, 8), 2.25, dtype=np.float32)
    assert np.array_equal(codecs.decode(codecs.encode(hidden, "int8"), "int8"), hidden)


def test_max_abs_error_bound_is_only_for_int8():
    arrays = codecs.encode(random_hidden((1, 2, 3), seed=8), "fp16")
    with pytest.raises(GainnetError, match="int8"):
        codecs.max_abs_error_bound(arrays, "fp16")


def test_int8_encodes_every_finite_float32_activation():
    hidden = np.array([[[-3e38, 0.0, 3e38]]], dtype=np.float32)
    out = codecs.decode(codecs.encode(hidden, "int8"), "int8")
    assert np.isfinite(out).all()


def test_int8_encodes_a_subnormal_span():
    hidden = np.array([[[0.0, 1e-45, 0.0]]], dtype=np.float32)
    arrays = codecs.encode(hidden, "int8")
    err = np.abs(codecs.decode(arrays, "int8") - hidden)
    assert (err <= int8_tolerance(arrays, hidden)).all()


# ---------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("codec", codecs.CODECS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_refused(codec, bad):
    hidden = random_hidden((2, 3, 4), seed=9)
    hidden[1, 2, 0] = bad
    with pytest.raises(GainnetError, match="NaN or inf"):
        codecs.encode(hidden, codec)


@pytest.mark.parametrize("codec", ["fp8", "FP32", "", "int4"])
def test_unknown_codec_is_refused(codec):
    hidden = random_hidden((1, 2, 3), seed=10)
    with pytest.raises(UnknownNameError, match="codec"):
        codecs.encode(hidden, codec)
    with pytest.raises(UnknownNameError, match="codec"):
        codecs.decode({"hidden": hidden}, codec)
    with pytest.raises(UnknownNameError):
        codecs.check_codec(codec)


@pytest.mark.parametrize(
    ("codec", "dtype"),
    [
        ("fp32", np.float16),
        ("fp32", np.float64),
        ("fp16", np.float32),
        ("int8", np.uint8),
        ("int8", np.float32),
    ],
)
def test_decode_refuses_the_wrong_dtype(codec, dtype):
    arrays = {"hidden": np.zeros((1, 2, 3), dtype=dtype)}
    if codec == "int8":
        arrays |= {"scale": np.ones((1, 2), np.float32), "offset": np.zeros((1, 2), np.float32)}
    with pytest.raises(GainnetError, match="expects a 'hidden'"):
        codecs.decode(arrays, codec)


@pytest.mark.parametrize("codec", codecs.CODECS)
def test_decode_refuses_a_missing_or_flat_hidden(codec):
    with pytest.raises(GainnetError):
        codecs.decode({}, codec)
    arrays = codecs.encode(random_hidden((1, 2, 3), seed=11), codec)
    arrays["hidden"] = arrays["hidden"].reshape(-1)
    with pytest.raises(GainnetError):
        codecs.decode(arrays, codec)


@pytest.mark.parametrize("missing", ["scale", "offset"])
def test_int8_decode_refuses_a_missing_scale_or_offset(missing):
    arrays = codecs.encode(random_hidden((2, 3, 4), seed=12), "int8")
    del arrays[missing]
    with pytest.raises(GainnetError, match="scale"):
        codecs.decode(arrays, "int8")


@pytest.mark.parametrize("which", ["scale", "offset", "outlier_index", "outlier_value"])
@pytest.mark.parametrize("shape", [(2,), (2, 3, 1), (3, 2), (2, 4), ()])
def test_int8_decode_refuses_a_wrong_side_array_shape(which, shape):
    arrays = codecs.encode(random_hidden((2, 3, 4), seed=13), "int8")
    arrays[which] = np.ones(shape, arrays[which].dtype)
    with pytest.raises(GainnetError, match=f"int8 {which} must be"):
        codecs.decode(arrays, "int8")


@pytest.mark.parametrize("index", [-1, 4, 2**31 - 1])
def test_int8_decode_refuses_an_outlier_index_outside_the_token(index):
    arrays = codecs.encode(random_hidden((2, 3, 4), seed=14), "int8")
    arrays["outlier_index"] = np.full((2, 3), index, np.int32)
    with pytest.raises(GainnetError, match=r"outlier_index must be in 0\.\.3"):
        codecs.decode(arrays, "int8")


def test_int8_carries_each_tokens_largest_value_exactly():
    hidden = random_hidden((3, 5, 16), seed=15)
    hidden[1, 2, 7] = 40.0  # an outlier channel, as transformer hidden states have
    decoded = codecs.decode(codecs.encode(hidden, "int8"), "int8")
    assert decoded[1, 2, 7] == np.float32(40.0)
    peak = np.abs(hidden).argmax(-1, keepdims=True)
    np.testing.assert_array_equal(
        np.take_along_axis(decoded, peak, -1), np.take_along_axis(hidden, peak, -1)
    )
    # the other channels of that token keep a step set by their own span, not by 40
    others = np.delete(hidden[1, 2], 7)
    step = (others.max() - min(others.min(), np.median(hidden[1, 2]))) / 255
    assert np.abs(np.delete(decoded[1, 2], 7) - others).max() <= step / 2 + 1e-6


def test_int8_decode_refuses_a_non_finite_scale():
    arrays = codecs.encode(random_hidden((2, 3, 4), seed=14), "int8")
    arrays["scale"] = arrays["scale"].copy()
    arrays["scale"][0, 0] = np.nan
    with pytest.raises(GainnetError, match="NaN or inf"):
        codecs.decode(arrays, "int8")
