"""Federated training end to end at tiny size: the in-process engine, Flower's Simulation
Engine and Flower's Deployment Engine (a SuperLink and SuperNodes as separate processes on
loopback) give the same model for one seed; the CLI and the case study run from a config file;
bad input gets one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from gainnet import load_solver
from gainnet.cli import app
from gainnet.federated import default_sites, federation_from_dict, run_federation
from gainnet.federated.cli import config_toml
from gainnet.federated.flower_deployment import processes_of

pytest.importorskip("flwr", reason="needs the federated extra (make test installs it)")

runner = CliRunner()


def tiny(**changes):
    """4 sites, 2 rounds of 3 local steps, a 16-wide denoiser: seconds per run."""
    values = {
        "sites": default_sites(4, 60, seed=3),
        "solver_params": {"hidden": 16, "batch_size": 16},
        "rounds": 2,
        "local_steps": 3,
        "clients_per_round": 2,
        "eval_instances_per_site": 10,
        "seed": 3,
    }
    return federation_from_dict({**values, **changes})


def rounds_of(result: dict) -> list[tuple]:
    return [(r["selected"], r["used"], r["ratio"], r["round_s"]) for r in result["rounds"]]


def test_flower_simulation_gives_the_in_process_result(tmp_path):
    # audit, a fabricating site, int8 uplinks and gainnet's selection: every code path
    config = tiny(selection="gainnet", audit=True, malicious_fraction=0.25, compression="int8")
    local = run_federation(config, model_dir=tmp_path / "local")
    flower = run_federation(config, engine="flower-simulation", model_dir=tmp_path / "flower")
    assert flower["engine"] == "flower-simulation"
    assert rounds_of(flower) == rounds_of(local)  # bit for bit, not only to tolerance
    assert flower["excluded_sites"] == local["excluded_sites"] == local["malicious_sites"]
    weights = [(tmp_path / m / "weights.safetensors").read_bytes() for m in ("local", "flower")]
    assert weights[0] == weights[1]
    model = load_solver(tmp_path / "flower")  # a solver checkpoint like any other
    costs = flower["rounds"][-1]["site_costs"]
    assert [c["site"] for c in costs] == flower["rounds"][-1]["participated"]
    assert all(c["up_bytes"] < c["down_bytes"] / 3 for c in costs)  # int8 uplink
    state = model.scenario.sample(5, np.random.default_rng(0))
    assert model.scenario.is_feasible(state, model.decide(state)).all()


def test_flower_robust_aggregators_match_gainnets():
    config = tiny(
        selection="all",
        clients_per_round=4,
        aggregator="multi-krum",
        krum_assumed_malicious=1,
        malicious_fraction=0.25,
        attack="sign-flip",
    )
    local = run_federation(config)
    flower = run_federation(config, engine="flower-simulation")
    assert rounds_of(flower) == rounds_of(local)
    assert all(len(r["used"]) == 3 for r in local["rounds"])


def test_flower_deployment_engine_on_loopback(tmp_path):
    config = tiny(sites=default_sites(2, 60, seed=3), selection="all", clients_per_round=2)
    deployed = run_federation(
        config, engine="flower-deployment", work_dir=tmp_path, model_dir=tmp_path / "model"
    )
    assert load_solver(tmp_path / "model").fitted
    local = run_federation(config)
    assert deployed["engine"] == "flower-deployment"
    assert rounds_of(deployed) == rounds_of(local)
    logs = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert logs == ["flwr-run.log", "superlink.log", "supernode-0.log", "supernode-1.log"]
    assert processes_of((tmp_path / "flwr-home").resolve()) == []  # all stopped


def test_cli_init_and_run(tmp_path):
    path = tmp_path / "federation.toml"
    result = runner.invoke(app, ["federated", "init", str(path), "--quick"])
    assert result.exit_code == 0, result.output
    assert "[[sites]]" in path.read_text()
    path.write_text(config_toml(tiny()))
    out = tmp_path / "run.json"
    model = tmp_path / "model"
    args = ["federated", "run", str(path), "--out", str(out), "--save", str(model)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "final ratio" in result.output
    assert len(json.loads(out.read_text())["rounds"]) == 2
    result = runner.invoke(app, ["evaluate", str(model), "--instances", "20"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rounds = 2\n", "needs [[sites]]"),
        ("rounds = [\n", "not valid TOML"),
        (None, "no such federation config"),
    ],
)
def test_cli_bad_configs_get_one_line(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    if text is not None:
        path.write_text(text)
    result = runner.invoke(app, ["federated", "run", str(path)])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_cli_bad_values_get_one_line(tmp_path):
    path = tmp_path / "bad.toml"
    text = config_toml(tiny())
    for good, bad in [
        ("rounds = 2", "rounds = nan"),
        ("rounds = 2", "roundz = 2"),
        ('selection = "random"', 'selection = "fastest"'),
        ("bandwidth_mhz = 1.0", "bandwidth_mhz = -1.0"),
    ]:
        assert good in text
        path.write_text(text.replace(good, bad, 1))
        result = runner.invoke(app, ["federated", "run", str(path)])
        assert result.exit_code == 2, bad
        assert "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) <= 3, result.output
    result = runner.invoke(app, ["federated", "run", str(path), "--engine", "grpc"])
    assert result.exit_code == 2


def test_case_study_from_a_config_file(tmp_path):
    case = """
[case_study]
policies = ["random", "gainnet"]
fractions = [0.0, 0.25]
defences = ["none", "audit"]
other_attacks = ["sign-flip"]
algorithm_seeds = 1
selection_seeds = 1
malicious_seeds = 1
deployment = false
interference = false
"""
    path = tmp_path / "case.toml"
    path.write_text(config_toml(tiny()) + case)
    result = runner.invoke(
        app,
        ["reproduce", "federated", "--config", str(path), "--out", str(tmp_path / "out")],
    )
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    for key in ("centralised_ratio", "fedavg_ratio", "fedprox_ratio", "selection", "malicious"):
        assert key in results
    for policy in ("random", "gainnet"):
        assert set(results["selection"][policy]) >= {"seconds_to_target", "bytes", "final_ratio"}
    for fraction in ("0", "0.25"):
        for defence in ("none", "audit"):
            assert set(results["malicious"][fraction][defence]) >= {"ratio", "honest_excluded"}
    assert results["malicious"]["0.25"]["audit"]["honest_excluded"] == 0
    assert results["targets"]["flower_matches_in_process"] is True
    for name in ("report.md", "time_to_target.png", "malicious.png", "selection_rounds.csv"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    bad = tmp_path / "bad.toml"
    bad.write_text(config_toml(tiny()) + "[case_study]\npolicies = ['fastest']\n")
    result = runner.invoke(app, ["reproduce", "federated", "--config", str(bad)])
    assert result.exit_code == 2 and "fastest" in result.output
