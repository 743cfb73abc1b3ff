"""Cycle configs (TOML and Python) are validated before any work: one InvalidConfigError
naming the field, the value and what is allowed."""

from __future__ import annotations

import pytest

import gainnet
from gainnet.continual.config_file import dataset_requests, load_cycle_config
from gainnet.continual.cycle import Cycle, CycleConfig, Phase

GOOD = """
database = "{database}"
decisions_per_round = 50
initial_labels = 300
initial_steps = 20
labels_per_retrain = 100
retrain_steps = 20
holdout = 50
drift_window = 50
[solver_params]
hidden = 16
[[phases]]
name = "T1"
rounds = 2
preset = "aigx-t1"
"""


def write(tmp_path, text):
    path = tmp_path / "cycle.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ("rounds = 2", "rounds = 1.5", "rounds"),
        ("rounds = 2", 'rounds = "x"', "rounds"),
        ("rounds = 2", "rounds = -3", "rounds"),
        ('name = "T1"\n', "", "name"),
        ('name = "T1"', 'name = ""', "name"),
        ("decisions_per_round = 50", 'decisions_per_round = 50\nseed = "0"', "seed"),
        ("decisions_per_round = 50", "decisions_per_round = 1e8", "decisions_per_round"),
        ("initial_labels = 300", "initial_labels = 90000000", "initial_labels"),
        ("rounds = 2", "rounds = 1000000", "GiB"),
        ("holdout = 50", "holdout = 50\ngap_threshold = nan", "gap_threshold"),
        ("holdout = 50", "holdout = 50\ngap_threshold = -0.1", "gap_threshold"),
        ("holdout = 50", 'holdout = 50\nbackground_retrain = "yes"', "background_retrain"),
        ("holdout = 50", "holdout = 50\nround_interval_s = nan", "round_interval_s"),
        ("holdout = 50", "holdout = 50\nround_interval_s = -1", "round_interval_s"),
        ("holdout = 50", 'holdout = 50\ngap_detector = "cusum"', "gap_detector"),
        ("drift_window = 50", "drift_window = 5", "drift_window"),
        ("holdout = 50", "holdout = 8", "holdout"),
        ("hidden = 16", "hidden = 1.5", "hidden"),
        ("hidden = 16", "learning_rate = nan", "learning_rate"),
        ('preset = "aigx-t1"', 'preset = "aigx-t9"', "aigx-t9"),
    ],
)
def test_bad_values_are_refused_before_any_work(tmp_path, old, new, match):
    database = tmp_path / "store" / "cycle.sqlite"
    text = GOOD.format(database=database)
    assert old in text
    with pytest.raises(gainnet.GainnetError, match=match):
        Cycle(load_cycle_config(write(tmp_path, text.replace(old, new, 1))))
    assert not database.exists(), "nothing is written for a refused config"


def test_phases_that_are_not_tables(tmp_path):
    with pytest.raises(gainnet.GainnetError, match="phases"):
        load_cycle_config(write(tmp_path, "phases = [1, 2]\n"))
    with pytest.raises(gainnet.GainnetError, match=r"\[\[phases\]\]"):
        load_cycle_config(write(tmp_path, 'database = "x"\n'))


DATASET = """
[[datasets]]
out = "data/umi"
model = "umi"
num = 300
settings = { num_bs_antennas = 4, num_subcarriers = 24 }
"""


def test_dataset_tables_are_read_and_checked(tmp_path):
    text = GOOD.format(database=tmp_path / "db.sqlite") + DATASET
    (request,) = dataset_requests(write(tmp_path, text))
    assert (request.out, request.num, request.seed) == ("data/umi", 300, 0)
    assert request.channel_config().shape == (1, 4, 24)
    load_cycle_config(write(tmp_path, text))  # the phases still load
    for old, new, match in [
        ("num = 300", "num = -1", "num"),
        ('model = "umi"', 'model = "umx"', "umx"),
        ("num_subcarriers = 24", "num_subcarriers = 0", "num_subcarriers"),
        ("num_subcarriers = 24", "carrier = 3", "carrier"),
        ('out = "data/umi"', 'out = "data/umi"\ncolour = 1', "colour"),
    ]:
        with pytest.raises(gainnet.GainnetError, match=match):
            dataset_requests(write(tmp_path, text.replace(old, new, 1)))
    with pytest.raises(gainnet.GainnetError, match="datasets"):
        dataset_requests(write(tmp_path, "datasets = 3\n" + GOOD.format(database="x")))


def test_python_configs_are_validated_too():
    with pytest.raises(gainnet.InvalidConfigError, match="rounds"):
        Phase("T1", 2.5)
    with pytest.raises(gainnet.InvalidConfigError, match="phases"):
        CycleConfig(phases=())
    with pytest.raises(gainnet.InvalidConfigError, match="audit_fraction"):
        CycleConfig(phases=(Phase("T1", 1),), audit_fraction=0.0)
    with pytest.raises(gainnet.InvalidConfigError, match="retrain_steps"):
        CycleConfig(phases=(Phase("T1", 1),), retrain_steps=0)
    with pytest.raises(gainnet.InvalidConfigError, match="Cycle needs a CycleConfig"):
        Cycle({"phases": []})


def test_an_unwritable_store_is_found_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the store folder should be")
    config = load_cycle_config(write(tmp_path, GOOD.format(database=blocker / "cycle.sqlite")))
    with pytest.raises(gainnet.GainnetError, match="store folder"):
        Cycle(config)


def test_a_restart_after_a_kill_in_the_first_training_stores_no_labels_twice(tmp_path, monkeypatch):
    from gainnet.solvers.gdm import GDM

    config = load_cycle_config(write(tmp_path, GOOD.format(database=tmp_path / "c.sqlite")))
    real_fit = GDM.fit_labelled

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed during the first model's training")

    monkeypatch.setattr(GDM, "fit_labelled", killed)
    for _ in range(2):
        with pytest.raises(KeyboardInterrupt):
            next(iter(Cycle(config)))
    monkeypatch.setattr(GDM, "fit_labelled", real_fit)
    first = next(iter(Cycle(config)))
    audits = 3  # 5 % of 50 decisions, rounded up
    assert first.labels_total == config.initial_labels + audits
