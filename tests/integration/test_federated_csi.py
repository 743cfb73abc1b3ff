"""Federated training of a CSI codec on tiny Sionna datasets (UMi and UMa sites): the federated
PCA start, FedAvg close to the pooled yardstick, the same codec under Flower, a checkpoint
``LearnedCodec.load`` reads, and configs that cannot work refused in one line."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sionna.phy", reason="needs the channels extra (make test installs it)")

from gainnet.channels import ChannelConfig, generate_dataset
from gainnet.csi.learned import LearnedCodec
from gainnet.errors import GainnetError
from gainnet.federated import federation_from_dict, run_federation
from gainnet.federated.centralised import run_centralised


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("csi-sites")
    for model in ("umi", "uma"):
        config = ChannelConfig(model=model, num_bs_antennas=8, num_subcarriers=16)
        generate_dataset(config, 300, root / model, seed=1)
    return root


def csi_config(datasets, **changes):
    sites = [
        {"name": f"site{i}-{m}", "params": {"channel_dataset": str(datasets / m)},
         "num_labels": 200, "mean_snr_db": 10.0 + 3 * i}
        for i, m in enumerate(["umi", "uma", "umi", "uma"])
    ]  # fmt: skip
    values = {
        "task": "csi-codec",
        "sites": sites,
        "solver_params": {"taps": 8, "antennas": 8, "latent": 16, "batch_size": 32},
        "rounds": 4,
        "local_steps": 20,
        "clients_per_round": 2,
        "eval_instances_per_site": 60,
        "learning_rate": 1e-3,
    }
    return federation_from_dict({**values, **changes})


def test_federated_codec_learns_and_matches_the_pooled_yardstick(datasets, tmp_path):
    config = csi_config(datasets)
    central = run_centralised(config)
    federated = run_federation(config, model_dir=tmp_path / "codec")
    ratios = [r["ratio"] for r in federated["rounds"]]
    assert federated["initial_ratio"] < 0.2  # random weights
    assert ratios[0] > 2 * federated["initial_ratio"]  # the federated PCA start
    assert federated["final_ratio"] >= central["ratio"] - 0.1
    codec = LearnedCodec.load(tmp_path / "codec")
    reports = np.exp(1j * np.arange(64, dtype=np.float32)).reshape(1, 8, 8) / 8
    assert codec.decode(codec.encode(reports.astype(np.complex64))).shape == (1, 8, 8)


@pytest.mark.parametrize("codec", ["vae", "entropy"])
def test_rate_controlled_codecs_train_federated_near_their_target_rate(datasets, codec):
    settings = {"codec": codec, "taps": 8, "antennas": 8, "latent": 16, "batch_size": 32}
    if codec == "entropy":
        settings |= {"latent": 32, "bits_per_value": 2}  # 64 bits on average, like csinet's
    federated = run_federation(csi_config(datasets, solver_params=settings))
    evaluation = federated["final_evaluation"]
    assert 0.5 * 64 <= evaluation["bits_per_report"] <= 1.25 * 64
    assert federated["final_ratio"] > 2 * federated["initial_ratio"]
    assert np.isfinite(evaluation["nmse_db"])


def test_flower_simulation_trains_the_same_codec(datasets):
    config = csi_config(datasets, rounds=2, malicious_fraction=0.25, attack="made-up-states")
    local = run_federation(config)
    flower = run_federation(config, engine="flower-simulation")
    assert [r["ratio"] for r in flower["rounds"]] == [r["ratio"] for r in local["rounds"]]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"audit": True}, "no expert labels"),
        ({"malicious_fraction": 0.5, "attack": "wrong-labels"}, "hold no labels"),
        ({"solver_params": {"codec": "mixture", "taps": 8, "antennas": 8}}, "csinet"),
        ({"solver_params": {"taps": 8, "antennas": 16}}, "antennas"),
    ],
)
def test_configs_that_cannot_work_are_refused(datasets, changes, message):
    with pytest.raises(GainnetError, match=message):
        run_federation(csi_config(datasets, **changes))


def test_a_site_without_a_dataset_is_refused(datasets):
    config = csi_config(datasets)
    sites = [s.__dict__ | {"params": {}} for s in config.sites]
    with pytest.raises(GainnetError, match="channel_dataset"):
        run_federation(federation_from_dict({**config.to_dict(), "sites": sites}))
