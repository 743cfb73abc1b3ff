"""The downstream tasks of train-on-synthetic, test-on-real (tiny sizes)."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_data import channels, metadata

from gainnet.errors import InvalidStateError
from gainnet.synthetic.conditions import conditions_from_metadata
from gainnet.synthetic.downstream import beam_selection_accuracy, best_beams, csi_feedback_nmse_db


def test_best_beam_of_an_on_grid_plane_wave():
    antennas, beam = 8, 3
    steer = np.exp(1j * np.pi * np.arange(antennas) * (2 * beam / antennas))
    h = np.tile(steer[None, None, :, None], (1, 1, 1, 4)).astype(np.complex64)
    best, power = best_beams(h)
    assert best[0] == beam and power.shape == (1, antennas)


def test_csi_task_learns_a_low_rank_source_better_than_a_rich_one():
    rank_one = np.tile(channels(1, seed=1), (300, 1, 1, 1))
    rng = np.random.default_rng(0)
    rank_one *= np.exp(2j * np.pi * rng.random((300, 1, 1, 1))).astype(np.complex64)
    rich = channels(300, seed=2)
    easy = csi_feedback_nmse_db(rank_one[:200], rank_one[200:], 4, "1/8", 20, 50, 0)
    hard = csi_feedback_nmse_db(rich[:200], rich[200:], 4, "1/8", 20, 50, 0)
    assert easy["nmse_db"] < hard["nmse_db"] - 10
    assert easy["train_reports"] == 200 and easy["epochs"] == 5


def test_beam_selection_learns_position_when_the_beam_follows_it():
    """Channels that are a single path from the user's direction: the classifier must learn
    position -> beam (chance is 1 in 8)."""
    n, antennas = 600, 8
    meta = metadata(n)
    azimuth = np.arctan2(meta["position_m"][:, 1], meta["position_m"][:, 0])
    u = np.sin(azimuth - np.radians(60.0))
    steer = np.exp(1j * np.pi * np.arange(antennas)[None, :] * u[:, None])
    h = np.repeat(steer[:, None, :, None], 4, axis=3).astype(np.complex64)
    c = conditions_from_metadata(meta, 0, 1)
    found = beam_selection_accuracy(c[:500], h[:500], c[500:], h[500:], steps=300, seed=0)
    assert found["top1_accuracy"] > 0.8 and found["top3_accuracy"] >= found["top1_accuracy"]
    assert 0.9 < found["power_kept"] <= 1.0


def test_tasks_refuse_bad_channels():
    with pytest.raises(InvalidStateError):
        best_beams(np.ones((2, 2, 8, 4), dtype=np.complex64))
    with pytest.raises(InvalidStateError):
        csi_feedback_nmse_db(np.ones((4, 1, 8, 4)), np.ones((4, 1, 8, 4)), 4, "1/8", 1, 2, 0)
