"""The retraining cycle over three phases (T1 -> T2 rainstorm -> T1), at small size."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from gainnet.continual.cycle import Cycle, CycleConfig, Phase  # also gainnet.Cycle
from gainnet.continual.store import Store


def config(database, phases) -> CycleConfig:
    return CycleConfig(
        phases=phases,
        solver_params={"hidden": 64},
        database=str(database),
        decisions_per_round=100,
        initial_labels=3000,
        initial_steps=800,
        labels_per_retrain=600,
        retrain_steps=600,
        holdout=300,
        drift_window=200,
        seed=0,
    )


def test_retrains_exactly_when_the_channels_change_and_resumes_after_restart(tmp_path):
    database = tmp_path / "cycle.sqlite"
    phases = (Phase("T1", 5, "aigx-t1"), Phase("T2", 5, "aigx-t2"), Phase("T1 again", 5, "aigx-t1"))
    reports = list(Cycle(config(database, phases)))
    assert [r.phase for r in reports] == ["T1"] * 5 + ["T2"] * 5 + ["T1 again"] * 5
    t1, t2 = reports[:5], reports[5:10]
    assert not any(r.triggered for r in t1)  # no false alarm in good weather
    assert any(r.triggered for r in t2[:2])  # the rainstorm is detected within 200 decisions
    promoted = [r for r in reports if r.promoted]
    assert promoted and promoted[0].phase == "T2"
    assert all(r.ratio >= 0.99 for r in t1)
    # the T1 model degrades in the rainstorm; the promoted challenger recovers
    assert t2[0].ratio < 0.99 <= t2[-1].ratio and t2[-1].model != t1[-1].model
    # mixing old labels into retraining: the T2 model has not forgotten T1
    assert reports[10].ratio >= 0.99

    with Store(database) as store:
        labels = store.label_count()
        last = store.last_promoted()
    assert labels == reports[-1].labels_total
    assert last.startswith(reports[-1].model)

    # a restarted cycle resumes from the last promoted model and keeps every label
    resumed = Cycle(config(database, (Phase("T2", 1, "aigx-t2"),)))
    first = next(iter(resumed))
    assert first.model == reports[-1].model
    assert first.labels_total > labels


def test_bad_configs_are_refused(tmp_path):
    with pytest.raises(ValueError, match="phase"):
        CycleConfig(phases=())
    with pytest.raises(ValueError, match="audit_fraction"):
        CycleConfig(phases=(Phase("T1", 1),), audit_fraction=0.0)
    with pytest.raises(ValueError, match="retrain_steps"):
        CycleConfig(phases=(Phase("T1", 1),), retrain_steps=0)


TINY_TOML = """
database = "{database}"
decisions_per_round = 100
initial_labels = 2000
initial_steps = 500
labels_per_retrain = 500
retrain_steps = 400
holdout = 200
drift_window = 200
[solver_params]
hidden = 32
[[phases]]
name = "T1"
rounds = 3
preset = "aigx-t1"
[[phases]]
name = "T2"
rounds = 3
preset = "aigx-t2"
"""


def test_cycle_command_reports_phase_metrics(tmp_path):
    import json

    from typer.testing import CliRunner

    from gainnet.cli import app

    path = tmp_path / "tiny.toml"
    path.write_text(TINY_TOML.format(database=tmp_path / "store" / "cycle.sqlite"))
    result = CliRunner().invoke(app, ["cycle", str(path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert len(out["rounds"]) == 6
    t1, t2 = out["phases"]
    assert t1["detection_delay"] is None and t1["promotions"] == 0
    assert t2["detection_delay"] == 100 and t2["promotions"] >= 1 and t2["labels_used"] >= 500
    assert (tmp_path / "store" / "cycle.sqlite").is_file()

    bad = tmp_path / "bad.toml"
    bad.write_text("bogus_key = 1\n" + TINY_TOML.format(database="x"))
    result = CliRunner().invoke(app, ["cycle", str(bad)])
    assert result.exit_code == 2 and "bogus_key" in result.output


def test_cycle_is_part_of_the_top_level_api():
    import gainnet

    assert gainnet.Cycle is Cycle and gainnet.CycleConfig is CycleConfig and gainnet.Phase is Phase


@pytest.mark.parametrize("solver", ["gdm-reward", "sac"])
def test_any_registered_solver_can_run_the_cycle(tmp_path, solver):
    """Utility-trained solvers keep training in the new conditions; only audits are labelled."""
    cfg = dataclasses.replace(
        config(tmp_path / "cycle.sqlite", (Phase("T1", 2, "aigx-t1"), Phase("T2", 3, "aigx-t2"))),
        solver=solver,
        solver_params={},
        initial_steps=300,
        retrain_steps=200,
    )
    reports = list(Cycle(cfg))
    audits = 5 * 5  # 5 % of 100 decisions, 5 rounds
    assert reports[-1].labels_total == audits  # no expert label was spent on training
    assert not any(r.triggered for r in reports[:2]) and reports[2].triggered
    with Store(cfg.database) as store:
        assert len(store.promotions()) == 2  # the first model and one challenger decision


def test_background_retraining_keeps_serving_until_the_hot_swap(tmp_path):
    cfg = dataclasses.replace(
        config(tmp_path / "cycle.sqlite", (Phase("T1", 2, "aigx-t1"), Phase("T2", 60, "aigx-t2"))),
        background_retrain=True,
        round_interval_s=0.1,
        retrain_steps=600,
    )
    reports = list(Cycle(cfg))
    trigger = next(r.round for r in reports if r.triggered)
    swap = next((r.round for r in reports if r.promoted), None)
    assert trigger == 2 and swap is not None
    # service went on with the incumbent while the challenger trained, then it was swapped in
    assert swap > trigger
    assert all(r.model == reports[trigger].model for r in reports[trigger:swap])
    assert reports[swap].model != reports[trigger].model and reports[swap].retrain_seconds > 0


def test_continuous_drift_moves_the_conditions_round_by_round(tmp_path):
    rain = Phase("rain rising", 6, "aigx-t1", end_params={"rain_rate_mm_per_h": 100.0})
    cycle = Cycle(config(tmp_path / "cycle.sqlite", (Phase("dry", 2, "aigx-t1"), rain)))
    factors = [cycle.scenario_at(r).params.rain_factor() for r in range(8)]
    assert factors[:3] == [1.0, 1.0, 1.0] and factors[-1] < 0.6
    assert all(later < earlier for earlier, later in itertools.pairwise(factors[2:]))
    reports = list(cycle)
    assert not any(r.triggered for r in reports[:2]) and any(r.triggered for r in reports[2:])
    with pytest.raises(ValueError, match="rain"):
        Cycle(
            config(tmp_path / "x.sqlite", (Phase("bad", 2, end_params={"rain_rate_mm_per_h": -1}),))
        )


def test_killing_gainnet_cycle_mid_retrain_loses_nothing(tmp_path):
    """A real `gainnet cycle` process is killed while it retrains; a restart resumes."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    database = tmp_path / "store" / "cycle.sqlite"
    toml = TINY_TOML.format(database=database).replace(
        "retrain_steps = 400", "retrain_steps = 10000000"
    )
    (tmp_path / "long.toml").write_text(toml)
    gainnet_cli = Path(sys.executable).parent / "gainnet"
    with subprocess.Popen(
        [str(gainnet_cli), "cycle", str(tmp_path / "long.toml"), "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as proc:
        try:
            deadline = time.monotonic() + 600  # a hang guard
            labels = 0
            while labels < 2000 + 500 and time.monotonic() < deadline:  # initial + retrain batch
                time.sleep(0.5)
                if database.exists():
                    with Store(database, read_only=True) as store:  # the cycle holds the lock
                        labels = store.label_count()
            assert labels >= 2500, "the cycle never reached its retraining"
            time.sleep(1.0)  # well inside the 10-million-step retraining
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    with Store(database) as store:
        kept = store.label_count()
        first_model = store.last_promoted()
    assert kept >= labels
    resumed = Cycle(config(database, (Phase("T2", 1, "aigx-t2"),)))
    report = next(iter(resumed))
    assert first_model.startswith(report.model)  # resumed from the last promoted model
    assert report.labels_total > kept  # nothing lost, new audits added


def test_page_hinkley_on_the_audits_detects_the_rainstorm(tmp_path):
    """gap_detector = "page-hinkley": with the KS test switched off, the sequential test on
    the audited served/expert ratio alone triggers retraining in T2, never in T1."""
    cfg = dataclasses.replace(
        config(tmp_path / "cycle.sqlite", (Phase("T1", 3, "aigx-t1"), Phase("T2", 3, "aigx-t2"))),
        gap_detector="page-hinkley",
        audit_fraction=0.5,
        drift_alpha=1e-300,  # the KS test never fires
    )
    reports = list(Cycle(cfg))
    assert all(r.ks_p_value > 1e-300 for r in reports if r.ks_p_value == r.ks_p_value)
    assert not any(r.triggered for r in reports[:3])
    assert any(r.triggered for r in reports[3:])
    # the trigger came from the Page-Hinkley test: at an alarm level it cannot reach, none fires
    deaf = dataclasses.replace(
        cfg, database=str(tmp_path / "deaf.sqlite"), page_hinkley_threshold=1e6
    )
    assert not any(r.triggered for r in Cycle(deaf))
