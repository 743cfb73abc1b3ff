"""The latency model: arithmetic on a synthetic profile, best split, the linear cost fit."""

from __future__ import annotations

import json

import pytest

from gainnet.errors import GainnetError
from gainnet.split.latency import PROFILE_FORMAT, SplitProfile
from gainnet.split.link import Link

L = 4


def profile(device_layer=0.010, server_layer=0.002, activation=100_000, raw=400_000):
    codec_bytes = {"fp32": activation, "fp16": activation // 2, "int8": activation // 4}
    side = {
        "input_s": 0.001,
        "head_s": 0.0005,
        "encode_s": {"fp32": 0.0, "fp16": 0.0001, "int8": 0.0002},
        "decode_s": {"fp32": 0.0, "fp16": 0.0001, "int8": 0.0002},
    }
    return SplitProfile(
        {
            "format": PROFILE_FORMAT,
            "num_layers": L,
            "device": side | {"layer_s": [device_layer] * L},
            "server": side | {"layer_s": [server_layer] * L},
            "request_bytes": {
                c: {str(k): b for k in range(L + 1)} | {"-1": raw} for c, b in codec_bytes.items()
            },
            "reply_bytes": 2_000,
        }
    )


def test_prediction_adds_the_parts():
    p = profile()
    link = Link(bandwidth_mbps=10, rtt_ms=20)
    parts = p.predict(2, "int8", link)
    assert parts["device_s"] == pytest.approx(0.001 + 2 * 0.010 + 0.0002)
    assert parts["uplink_s"] == pytest.approx(25_000 * 8 / 10e6)
    assert parts["rtt_s"] == pytest.approx(0.020)
    assert parts["server_s"] == pytest.approx(0.0002 + 2 * 0.002 + 0.0005)
    assert parts["downlink_s"] == pytest.approx(2_000 * 8 / 10e6)
    total = sum(v for k, v in parts.items() if k != "total_s")
    assert parts["total_s"] == pytest.approx(total)
    raw = p.predict(-1, "fp32", link)
    assert raw["device_s"] == 0 and raw["server_s"] == pytest.approx(0.001 + 4 * 0.002 + 0.0005)


def test_best_split_follows_the_link():
    p = profile()
    # slow link: the raw input (400 kB) is 16x the int8 activation -> split early, int8
    assert p.best_split(Link(1, 20))[:2] == (0, "int8")
    # unpaced link: bytes are free, the server is 5x faster -> send the raw input
    assert p.best_split(Link(None, 0))[0] == -1
    # a device faster than the server keeps every layer
    fast = profile(device_layer=0.001, server_layer=0.010, raw=10**9)
    assert fast.best_split(Link(100, 1))[0] == L


def test_cost_fit_recovers_a_linear_profile():
    fit = profile(device_layer=0.007).cost_fit()
    assert fit["a_s_per_layer"] == pytest.approx(0.007)
    assert fit["b_s"] == pytest.approx(0.001)
    assert fit["r2"] == pytest.approx(1.0)


def test_cost_fit_never_has_a_negative_fixed_cost():
    """Timing noise (a loaded machine) can tilt the layers so a free line crosses below 0; the
    fit is then the least-squares line through the origin, which a stackelberg-split accepts."""
    noisy = profile()
    noisy.data["device"]["input_s"] = 0.0
    noisy.data["device"]["layer_s"] = [0.006, 0.010, 0.014, 0.018]  # free fit: b = -0.002
    fit = noisy.cost_fit()
    layers = [0, 1, 2, 3, 4]
    cost = [0.0, 0.006, 0.016, 0.030, 0.048]
    assert fit["b_s"] == 0.0
    expected = sum(x * y for x, y in zip(layers, cost, strict=True)) / sum(x * x for x in layers)
    assert fit["a_s_per_layer"] == pytest.approx(expected)
    assert fit["r2"] < 1.0


def test_bad_profiles_are_refused(tmp_path):
    path = tmp_path / "p.json"
    path.write_text("{not json")
    with pytest.raises(GainnetError, match="cannot read"):
        SplitProfile.load(path)
    data = profile().data | {"format": "something-else"}
    path.write_text(json.dumps(data))
    with pytest.raises(GainnetError, match="not a gainnet split profile"):
        SplitProfile.load(path)
    data = profile().data
    data["device"] = data["device"] | {"layer_s": [0.1] * (L - 1)}
    with pytest.raises(GainnetError, match="layer_s"):
        SplitProfile(data)
    with pytest.raises(GainnetError, match="split"):
        profile().predict(L + 1, "fp32", Link())
    with pytest.raises(GainnetError):
        profile().predict(0, "bf16", Link())
