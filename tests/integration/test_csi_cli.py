"""``gainnet csi train`` / ``evaluate`` on a tiny Sionna dataset: a codec trains, saves, loads,
is scored beside transform coding, and bad arguments or a corrupt codec get one line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

pytest.importorskip("sionna.phy", reason="needs the channels extra (make test installs it)")

from gainnet.channels import ChannelConfig, generate_dataset
from gainnet.cli import app


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("csi") / "inh"
    config = ChannelConfig(model="inh", num_bs_antennas=8, num_subcarriers=16)
    generate_dataset(config, 120, root, seed=1, shard_size=60)
    return root


@pytest.mark.parametrize("codec", ["csinet", "entropy"])
def test_train_then_evaluate(dataset, tmp_path, codec):
    runner = CliRunner()
    out = tmp_path / codec
    args = ["csi", "train", "--dataset", str(dataset), "--out", str(out), "--codec", codec,
            "--ratio", "1/8", "--epochs", "2", "--taps", "8", "--test", "30"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "64 bits per report" in result.output  # 1/8 of 2 x 8 x 8 = 16 values x 4 bits
    result = runner.invoke(app, ["csi", "evaluate", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["reports"] == 30 and summary["held_out"] is True
    assert set(summary["codecs"]) == {codec, "transform coding"}
    for point in summary["codecs"].values():
        assert point["nmse_db"] < 1.0 and 0 < point["rho"] <= 1 and point["bits"] > 0


def test_bad_arguments_and_a_corrupt_codec_get_one_line(dataset, tmp_path):
    runner = CliRunner()
    network = tmp_path / "network"  # network drops (users x sites) are not one link's CSI
    config = ChannelConfig(model="umi", num_cells=2, num_bs_antennas=1, num_subcarriers=16)
    generate_dataset(config, 10, network)
    base = ["csi", "train", "--dataset", str(dataset), "--epochs", "1", "--taps", "8"]
    cases = [
        ([*base, "--out", str(tmp_path / "a"), "--ratio", "1/0"], "fraction"),
        ([*base, "--out", str(tmp_path / "a"), "--ratio", "3/2"], "(0, 1]"),
        ([*base, "--out", str(tmp_path / "a"), "--ratio", "1/3"], "whole number"),
        ([*base, "--out", str(tmp_path / "a"), "--codec", "transformer"], "transformer"),
        ([*base, "--out", str(tmp_path / "a"), "--test", "500"], "--test"),
        (["csi", "train", "--dataset", str(tmp_path), "--out", str(tmp_path / "b")], ""),
        (["csi", "evaluate", str(tmp_path / "missing")], ""),
        (["csi", "train", "--dataset", str(network), "--out", str(tmp_path / "c")], "network"),
    ]
    for args, words in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output and words in result.output, result.output
    good = tmp_path / "good"
    assert runner.invoke(app, [*base, "--out", str(good), "--test", "30"]).exit_code == 0
    weights = good / "encoder.safetensors"
    weights.write_bytes(weights.read_bytes()[:-5] + b"xxxxx")
    result = runner.invoke(app, ["csi", "evaluate", str(good)])
    assert result.exit_code == 2 and "SHA-256" in result.output, result.output


def test_train_then_evaluate_the_mixture_coder(tmp_path):
    """`--codec mixture`: saved as safetensors + JSON, evaluated beside transform coding, and a
    corrupt coders file gets one line."""
    dataset = tmp_path / "inh"
    config = ChannelConfig(model="inh", num_bs_antennas=8, num_subcarriers=16)
    generate_dataset(config, 400, dataset, seed=2, shard_size=400)
    runner = CliRunner()
    out = tmp_path / "mixture"
    args = ["csi", "train", "--dataset", str(dataset), "--out", str(out), "--codec", "mixture",
            "--ratio", "1/8", "--taps", "8", "--test", "50", "--groups", "2"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "64 bits per report on average" in result.output
    result = runner.invoke(app, ["csi", "evaluate", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["reports"] == 50 and set(summary["codecs"]) == {"mixture", "transform coding"}
    mixture = summary["codecs"]["mixture"]
    assert mixture["nmse_db"] < 0 and 0.8 * 64 < mixture["bits"] < 1.2 * 64
    raw = (out / "coders.safetensors").read_bytes()
    (out / "coders.safetensors").write_bytes(raw[:-4] + b"\xff" * 4)
    result = runner.invoke(app, ["csi", "evaluate", str(out)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "SHA-256" in result.output
