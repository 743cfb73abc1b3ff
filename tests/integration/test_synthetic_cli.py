"""``gainnet synthetic train`` / ``generate`` on a tiny Sionna dataset: a generator trains,
fills a held-out region with channels written as a dataset a CSI codec trains on, and bad
arguments or a corrupt generator get one line."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

pytest.importorskip("sionna.phy", reason="needs the channels extra (make test installs it)")

from gainnet.channels import ChannelConfig, generate_dataset, load_dataset
from gainnet.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def drops(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    config = ChannelConfig(model="umi", num_bs_antennas=8, num_subcarriers=16)
    generate_dataset(config, 300, root / "umi", seed=1)
    network = ChannelConfig(model="umi", num_cells=2, num_bs_antennas=1, num_subcarriers=4)
    generate_dataset(network, 4, root / "network", seed=1)
    return root


def test_train_generate_and_train_a_codec_on_the_synthetic_dataset(drops, tmp_path):
    args = [
        "synthetic",
        "train",
        "--dataset",
        str(drops / "umi"),
        "--out",
        str(tmp_path / "g"),
        "--channels",
        "150",
        "--region",
        "0,90",
        "--taps",
        "8",
        "--steps",
        "30",
        "--hidden",
        "32",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    args = [
        "synthetic",
        "generate",
        str(tmp_path / "g"),
        "--conditions",
        str(drops / "umi"),
        "--region",
        "90,120",
        "--out",
        str(tmp_path / "syn"),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    made, real = load_dataset(tmp_path / "syn"), load_dataset(drops / "umi")
    assert made.h.shape[1:] == real.h.shape[1:] and made.config == real.config
    assert made.generator["gainnet-synthetic"] == "diffusion" and "sionna-no-rt" in real.generator
    assert (made.metadata["position_m"][:, 1] > 0).all()
    args = [
        "csi",
        "train",
        "--dataset",
        str(tmp_path / "syn"),
        "--out",
        str(tmp_path / "c"),
        "--taps",
        "8",
        "--epochs",
        "1",
        "--test",
        "20",
        "--ratio",
        "1/8",
    ]
    assert runner.invoke(app, args).exit_code == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--kind", "vae"], "unknown generator"),
        (["--region", "10"], "--region"),
        (["--region", "100,50"], "--region"),
        (["--taps", "64"], "--taps"),
    ],
)
def test_bad_train_arguments_get_one_line(drops, tmp_path, args, message):
    base = [
        "synthetic",
        "train",
        "--dataset",
        str(drops / "umi"),
        "--out",
        str(tmp_path / "g"),
        "--steps",
        "2",
        "--hidden",
        "8",
    ]
    result = runner.invoke(app, base + args)
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


def test_network_drops_and_corrupt_generators_are_refused(drops, tmp_path):
    args = ["synthetic", "train", "--dataset", str(drops / "network"), "--out", str(tmp_path / "g")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "network drops" in result.output
    args = [
        "synthetic",
        "train",
        "--dataset",
        str(drops / "umi"),
        "--out",
        str(tmp_path / "g"),
        "--channels",
        "40",
        "--taps",
        "4",
        "--steps",
        "2",
        "--hidden",
        "8",
    ]
    assert runner.invoke(app, args).exit_code == 0
    weights = tmp_path / "g" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    args = [
        "synthetic",
        "generate",
        str(tmp_path / "g"),
        "--conditions",
        str(drops / "umi"),
        "--out",
        str(tmp_path / "syn"),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "SHA-256" in result.output


def test_write_dataset_refuses_wrong_shapes_and_full_folders(drops, tmp_path):
    from gainnet.channels.dataset import write_dataset
    from gainnet.errors import GainnetError, InvalidConfigError

    real = load_dataset(drops / "umi")
    arrays = {"h": real.h[:5], **{k: v[:5] for k, v in real.metadata.items()}}
    made = write_dataset(tmp_path / "copy", real.config, arrays, {"test": True})
    assert (made.h == real.h[:5]).all() and made.config == real.config
    with pytest.raises(GainnetError, match="not empty"):
        write_dataset(tmp_path / "copy", real.config, arrays, {})
    with pytest.raises(InvalidConfigError, match="do not match"):
        write_dataset(tmp_path / "bad", real.config, arrays | {"los": real.metadata["los"][:4]}, {})
