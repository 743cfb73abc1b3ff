"""The SQLite store: labels, models by hash, promotions, monitoring, and crash safety."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gainnet
from gainnet.continual.store import Promotion, Store


@pytest.fixture
def t1():
    return gainnet.make_scenario("power-allocation", preset="aigx-t1")


def test_labels_round_trip_in_order(tmp_path, t1):
    expert = t1.default_expert()
    first = t1.sample(5, gainnet.rng_for(0, "train"))
    second = t1.sample(3, gainnet.rng_for(1, "train"))
    with Store(tmp_path / "cycle.sqlite") as store:
        store.add_labels(0, first, expert.solve(first))
        store.add_labels(2, second, expert.solve(second))
        assert store.label_count() == 8
        state, decision = store.labels(t1)
        np.testing.assert_array_equal(state.gains, np.concatenate([first.gains, second.gains]))
        np.testing.assert_array_equal(decision[:5], expert.solve(first))
        recent, _ = store.labels(t1, since_round=1)
        np.testing.assert_array_equal(recent.gains, second.gains)
        assert store.labels(t1, since_round=5) == (None, None)


def test_models_are_addressed_by_hash_and_reload_identically(tmp_path, t1):
    solver = gainnet.make_solver("gdm", t1, hidden=16)
    solver.fit(gainnet.Budget(steps=5))
    with Store(f"sqlite:///{tmp_path / 'cycle.sqlite'}") as store:
        digest = store.save_model(solver)
        assert store.save_model(solver) == digest  # idempotent
        state = t1.sample(4, gainnet.rng_for(0, "eval"))
        np.testing.assert_array_equal(store.load_model(digest).decide(state), solver.decide(state))


def test_a_corrupt_or_missing_model_is_refused(tmp_path, t1):
    solver = gainnet.make_solver("gdm", t1, hidden=16)
    with Store(tmp_path / "cycle.sqlite") as store:
        digest = store.save_model(solver)
        path = store.models_dir / f"{digest}.safetensors"
        path.write_bytes(path.read_bytes()[:-7] + b"garbage")
        with pytest.raises(gainnet.CheckpointError, match="does not match its recorded SHA-256"):
            store.load_model(digest)
        path.unlink()
        with pytest.raises(gainnet.StoreError, match="missing"):
            store.load_model(digest)
        with pytest.raises(gainnet.StoreError, match="no model"):
            store.load_model("0" * 64)


def test_promotions_and_monitoring(tmp_path):
    with Store(tmp_path / "cycle.sqlite") as store:
        assert store.last_promoted() is None
        a, b = "a" * 64, "b" * 64
        store.record_promotion(Promotion(1, None, a, None, 0.9, True))
        store.record_promotion(Promotion(2, a, b, 0.9, 0.8, False))
        assert store.last_promoted() == a
        assert [p.promoted for p in store.promotions()] == [True, False]
        store.record_metric(0, "ks_p_value", 0.5)
        store.record_metric(1, "ks_p_value", 1e-9)
        assert store.metric("ks_p_value") == [(0, 0.5), (1, 1e-9)]


def test_bad_locations_and_files(tmp_path):
    with pytest.raises(gainnet.GainnetError, match="sqlite:///"):
        Store("postgres://host/db")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(gainnet.GainnetError, match="not a usable gainnet store"):
        Store(junk)


def test_killing_the_process_mid_retrain_loses_no_labels(tmp_path):
    """A real process labels, promotes, starts retraining and is killed; nothing is lost."""
    database = tmp_path / "cycle.sqlite"
    script = textwrap.dedent(
        f"""
        import sys, torch, gainnet
        from gainnet.continual.store import Promotion, Store
        torch.set_num_threads(1)
        scenario = gainnet.make_scenario("power-allocation", preset="aigx-t1")
        store = Store({str(database)!r})
        state = scenario.sample(50, gainnet.rng_for(0, "train"))
        store.add_labels(0, state, scenario.default_expert().solve(state))
        solver = gainnet.make_solver("gdm", scenario, hidden=16)
        solver.fit(gainnet.Budget(steps=5))
        store.record_promotion(Promotion(0, None, store.save_model(solver), None, 1.0, True))
        more = scenario.sample(30, gainnet.rng_for(1, "train"))
        store.add_labels(1, more, scenario.default_expert().solve(more))
        print("retraining", flush=True)
        solver.fit(gainnet.Budget(steps=10**9))  # killed in here
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout.readline().strip() == "retraining"
        finally:
            proc.kill()
            proc.wait(timeout=30)
    scenario = gainnet.make_scenario("power-allocation", preset="aigx-t1")
    with Store(database) as store:
        assert store.label_count() == 80
        resumed = store.load_model(store.last_promoted())
        assert resumed.scenario.config() == scenario.config()
