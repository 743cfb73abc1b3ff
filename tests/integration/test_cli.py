"""The ``gainnet`` command end to end on tiny budgets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import gainnet
from gainnet.cli import app

runner = CliRunner()


def test_list_shows_every_registry_entry():
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0, result.output
    for name in gainnet.list_scenarios() + gainnet.list_solvers() + gainnet.list_experts():
        assert name in result.output


def test_train_then_evaluate_round_trip(tmp_path):
    run = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "train",
            "power-allocation",
            "gdm",
            "--preset",
            "gdmopt",
            "--set",
            "hidden=32",
            "--set",
            "total_power_w=2.0",
            "--steps",
            "40",
            "--seed",
            "3",
            "--out",
            str(run),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (run / "solver.json").is_file() and (run / "weights.safetensors").is_file()
    record = json.loads((run / "train.json").read_text())
    assert record["fit"]["steps"] == 40
    assert record["scenario"]["params"]["total_power_w"] == 2.0

    result = runner.invoke(app, ["evaluate", str(run), "--instances", "50", "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert row["solver"] == "gdm" and row["instances"] == 50
    assert row["feasible_rate"] == 1.0
    # the same run evaluated from Python gives the same numbers
    direct = gainnet.evaluate(gainnet.load_solver(run), instances=50, single_repeats=1)
    assert row["ratio"] == pytest.approx(direct.ratio, rel=1e-12)


def test_compare_json_has_evaluate_fields_per_solver():
    result = runner.invoke(
        app,
        [
            "compare",
            "power-allocation",
            "--preset",
            "gdmopt",
            "--solvers",
            "gdm,uniform,random",
            "--steps",
            "30",
            "--instances",
            "40",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["solver"] for r in rows] == ["gdm", "uniform", "random"]
    fields = set(gainnet.Evaluation.__dataclass_fields__)
    for row in rows:
        assert fields <= set(row) and "train_seconds" in row
    uniform = rows[1]
    assert 0.7 < uniform["ratio"] < 0.85  # equal power is ~78.5 % of the optimum


def test_compare_table_names_the_expert():
    result = runner.invoke(
        app,
        [
            "compare",
            "power-allocation",
            "--solvers",
            "uniform",
            "--steps",
            "1",
            "--instances",
            "20",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "water-filling" in result.stdout and "uniform" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "power-allocation", "nope", "--out", "x"], "known: "),
        (["train", "power-allocation", "gdm", "--set", "bogus=1", "--out", "x"], "solver.hidden"),
        (
            ["train", "power-allocation", "gdm", "--set", "total_power_w=-1", "--out", "x"],
            "total_power_w",
        ),
        (["train", "power-allocation", "gdm", "--preset", "nope", "--out", "x"], "gdmopt"),
        (["compare", "nope"], "power-allocation"),
        (["train", "power-allocation", "gdm", "--steps", "0", "--out", "x"], "Budget.steps"),
    ],
)
def test_bad_input_gets_a_clear_error(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "x").exists()


def _tiny_run(run):
    args = ["train", "power-allocation", "uniform", "--steps", "1", "--out", str(run)]
    assert runner.invoke(app, args).exit_code == 0


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda run: (run / "solver.json").write_text("{not json"), "solver.json does not match"),
        (lambda run: (run / "weights.safetensors").unlink(), "weights.safetensors is missing"),
        (lambda run: (run / "SHA256SUMS").unlink(), "has no SHA256SUMS"),
        (lambda run: (run / "train.json").write_text("{}"), "train.json does not match"),
    ],
    ids=["edited-json", "no-weights", "no-manifest", "edited-record"],
)
def test_evaluate_refuses_a_damaged_run_in_one_line(tmp_path, damage, message):
    run = tmp_path / "run"
    _tiny_run(run)
    assert runner.invoke(app, ["evaluate", str(run), "--instances", "5"]).exit_code == 0
    damage(run)
    result = runner.invoke(app, ["evaluate", str(run)])
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_train_checks_the_run_directory_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    args = ["train", "power-allocation", "gdm", "--steps", "100000", "--out", str(blocker)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "is a file, not a directory" in result.output


def test_console_entry_point_is_installed():
    script = Path(sys.executable).parent / "gainnet"
    proc = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "compare" in proc.stdout
