"""``reproduce synthetic-channels`` end to end at tiny sizes: real Sionna drops, both
generators, fidelity, every downstream regime, the held-out region and the report's files."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("sionna.phy", reason="needs the channels extra (make test installs it)")

from gainnet.errors import InvalidConfigError
from gainnet.reproduce.synthetic_channels import REGIMES, run_synthetic_channels
from gainnet.synthetic.fidelity import METRICS

TINY = {
    "channels": 480,
    "antennas": 8,
    "subcarriers": 32,
    "taps": 8,
    "test": 60,
    "small": 80,
    "hidden": 32,
    "diffusion_steps": 30,
    "gan_steps": 5,
    "task_steps": 20,
    "curve": (1, 2),
}


def test_tiny_tstr_run_writes_every_result(tmp_path):
    results = run_synthetic_channels(tmp_path, quick=True, sizes=TINY)
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk["tstr"].keys() == {
        "csi_feedback",
        "csi_feedback_transform_coding",
        "beam_selection",
    }
    for place in (on_disk, on_disk["held_out_region"]):
        assert set(place["fidelity"]) == {"diffusion", "gan", "real_held_out"}
        for metrics in place["fidelity"].values():
            assert set(METRICS) <= set(metrics)
        for task in place["tstr"].values():
            assert set(task["regimes"]) == set(REGIMES)
            assert isinstance(task["higher_is_better"], bool) and task["metric"]
            for regime in ("synthetic", "real_small_plus_synthetic"):
                assert set(task["regimes"][regime]) == {"diffusion", "gan"}
    assert results["counts"]["small"] == 2 * TINY["small"]
    assert results["counts"]["test"] == 2 * TINY["test"]
    assert results["real_data_curve"][0]["real_channels"] == 2 * TINY["small"]
    assert results["targets"]["diffusion_channels_per_second"] > 0
    for name in (
        "report.md",
        "fidelity.csv",
        "tstr.csv",
        "real_data_curve.csv",
        "spectra.png",
        "nmse_vs_real.png",
    ):
        assert (tmp_path / name).stat().st_size > 0
    # the real channels stay on disk for later runs to reuse
    assert (tmp_path / "datasets" / "uma" / "dataset.json").is_file()


def test_unknown_size_is_refused(tmp_path):
    with pytest.raises(InvalidConfigError, match="unknown sizes"):
        run_synthetic_channels(tmp_path, quick=True, sizes={"chanels": 10})
