"""A damaged, foreign, old, locked or misplaced store is refused with one StoreError (or a
CheckpointError for a model file) naming the file and the fix, never a Python traceback."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

import gainnet
from gainnet.continual.store import Promotion, Store


@pytest.fixture
def t1():
    return gainnet.make_scenario("power-allocation", preset="aigx-t1")


@pytest.fixture
def filled(tmp_path, t1):
    """A store with labels, two models and a promotion; returns (path, digests)."""
    path = tmp_path / "store" / "cycle.sqlite"
    digests = []
    with Store(path) as store:
        state = t1.sample(20, gainnet.rng_for(0, "train"))
        store.add_labels(0, state, t1.default_expert().solve(state))
        for seed in (1, 2):
            digests.append(store.save_model(gainnet.make_solver("gdm", t1, seed=seed, hidden=8)))
        store.record_promotion(Promotion(0, None, digests[0], None, 1.0, True))
    return path, digests


def _sql(path, statement):
    with sqlite3.connect(path) as db:
        db.execute(statement)


def test_a_directory_as_database(tmp_path):
    (tmp_path / "db").mkdir()
    with pytest.raises(gainnet.StoreError, match="is a directory"):
        Store(tmp_path / "db")


def test_a_model_folder_that_is_a_file(tmp_path):
    (tmp_path / "models").write_text("not a folder")
    with pytest.raises(gainnet.GainnetError, match=r"model folder .* is a file"):
        Store(tmp_path / "cycle.sqlite")


def test_damaged_pages_are_found_when_the_store_is_opened(filled):
    path, _ = filled
    raw = bytearray(path.read_bytes())
    page = 4096
    raw[page + 16 : 2 * page] = b"\xff" * (page - 16)  # trash the second page
    path.write_bytes(bytes(raw))
    with pytest.raises(gainnet.StoreError, match=r"restore .* or start a new store"):
        Store(path)


def test_corrupt_swapped_and_missing_model_files(filled, t1):
    path, (first, second) = filled
    models = path.parent / "models"
    shutil.copy(models / f"{second}.safetensors", models / f"{first}.safetensors")  # swapped
    with Store(path) as store:
        with pytest.raises(gainnet.CheckpointError, match="recorded SHA-256"):
            store.load_model(first)
        (models / f"{first}.safetensors").unlink()
        with pytest.raises(gainnet.StoreError, match="is missing"):
            store.load_model(first)


def test_bad_model_metadata(filled):
    path, (first, _) = filled
    _sql(path, f"UPDATE models SET meta = '{{not json' WHERE hash = '{first}'")
    with Store(path) as store, pytest.raises(gainnet.StoreError, match="not valid JSON"):
        store.load_model(first)
    _sql(path, f"""UPDATE models SET meta = '{{"format": 1}}' WHERE hash = '{first}'""")
    with Store(path) as store, pytest.raises(gainnet.CheckpointError, match="gainnet-solver"):
        store.load_model(first)


def test_an_unknown_promoted_model(filled):
    path, _ = filled
    _sql(path, "UPDATE promotions SET challenger = 'no-such-model'")
    with Store(path) as store, pytest.raises(gainnet.StoreError, match="names no valid model"):
        store.last_promoted()
    _sql(path, f"UPDATE promotions SET challenger = '{'e' * 64}'")
    with Store(path) as store, pytest.raises(gainnet.StoreError, match="no model with hash"):
        store.load_model(store.last_promoted())


def test_a_corrupt_label_batch(filled, t1):
    path, _ = filled
    _sql(path, "UPDATE labels SET arrays = x'00ff00ff'")
    with Store(path) as store, pytest.raises(gainnet.StoreError, match="label batch is corrupt"):
        store.labels(t1)


def test_an_old_or_foreign_schema(tmp_path):
    path = tmp_path / "old.sqlite"
    _sql(path, "CREATE TABLE labels (id INTEGER PRIMARY KEY, arrays BLOB)")
    with pytest.raises(gainnet.StoreError, match="older or foreign schema"):
        Store(path)
    newer = tmp_path / "newer.sqlite"
    _sql(newer, "PRAGMA user_version = 99")
    with pytest.raises(gainnet.StoreError, match="newer gainnet"):
        Store(newer)


def test_one_writer_at_a_time_readers_welcome(filled):
    path, _ = filled
    with Store(path) as writer:
        with pytest.raises(gainnet.StoreError, match="in use by another process"):
            Store(path)
        with Store(path, read_only=True) as reader:
            assert reader.label_count() == writer.label_count() == 20
            with pytest.raises(gainnet.StoreError, match="cannot record a metric"):
                reader.record_metric(0, "x", 1.0)
    with Store(path) as again:  # the lock went with the writer
        assert again.label_count() == 20


def test_the_lock_is_released_by_a_killed_process(filled):
    import subprocess
    import sys

    path, _ = filled
    script = (
        "import os, signal; from gainnet.continual.store import Store; "
        f"s = Store({str(path)!r}); os.kill(os.getpid(), signal.SIGKILL)"
    )
    subprocess.run([sys.executable, "-c", script], check=False, timeout=120)
    with Store(path) as store:
        assert store.label_count() == 20


@pytest.mark.parametrize(
    "damage",
    [
        lambda db: db.write_bytes(b"this is not a database" * 200),
        lambda db: (db.unlink(), db.mkdir()),
        lambda db: _sql(db, "CREATE TABLE labels (id INTEGER PRIMARY KEY, arrays BLOB)"),
    ],
    ids=["garbage", "directory", "old-schema"],
)
def test_gainnet_cycle_reports_a_damaged_store_in_one_line(tmp_path, damage):
    from typer.testing import CliRunner

    from gainnet.cli import app

    database = tmp_path / "cycle.sqlite"
    database.write_bytes(b"")
    damage(database)
    config = tmp_path / "c.toml"
    config.write_text(
        f'database = "{database}"\ninitial_labels = 100\ninitial_steps = 5\n'
        "decisions_per_round = 20\nholdout = 20\ndrift_window = 20\n"
        '[solver_params]\nhidden = 8\n[[phases]]\nname = "T1"\nrounds = 1\n'
    )
    result = CliRunner().invoke(app, ["cycle", str(config)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and str(database) in lines[0]
