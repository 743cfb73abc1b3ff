"""Drift detectors on the AIGX T1 -> T2 ("rainstorm") shift."""

from __future__ import annotations

import numpy as np
import pytest

import gainnet
from gainnet.continual import KSDriftDetector, PageHinkley


def observations(preset: str, n: int, stream: str) -> np.ndarray:
    scenario = gainnet.make_scenario("power-allocation", preset=preset)
    return scenario.observe(scenario.sample(n, gainnet.rng_for(0, stream)))


def test_ks_detects_the_rainstorm_and_not_good_weather():
    detector = KSDriftDetector(observations("aigx-t1", 2000, "train"), window=200, alpha=0.01)
    assert detector.update(observations("aigx-t1", 100, "eval")) is None  # window not full yet
    calm = detector.update(observations("aigx-t1", 100, "drift"))
    assert calm is not None and not calm.drifted
    detector.reset()
    storm = detector.update(observations("aigx-t2", 200, "drift"))
    assert storm.drifted and storm.p_value < 1e-6


def test_ks_false_alarm_rate_is_near_alpha():
    reference = observations("aigx-t1", 2000, "train")
    detector = KSDriftDetector(reference, window=200, alpha=0.05)
    stream = observations("aigx-t1", 200 * 100, "eval")
    alarms = [detector.test(stream[i : i + 200]).drifted for i in range(0, len(stream), 200)]
    assert np.mean(alarms) <= 0.12  # Bonferroni is conservative: at most alpha plus noise


def test_ks_refuses_bad_input():
    with pytest.raises(gainnet.GainnetError):
        KSDriftDetector(np.ones((5, 3)))
    with pytest.raises(gainnet.GainnetError, match="NaN"):
        KSDriftDetector(np.full((50, 3), np.nan))
    detector = KSDriftDetector(np.random.default_rng(0).random((50, 3)), window=20)
    with pytest.raises(gainnet.GainnetError, match=r"\[n, 3\]"):
        detector.update(np.ones((4, 2)))


def test_page_hinkley_detects_a_drop_soon_after_onset_and_not_before():
    rng = np.random.default_rng(0)
    detector = PageHinkley(delta=0.01, threshold=2.0)
    before = rng.normal(1.0, 0.1, 1000)
    assert not any(detector.update(x) for x in before)
    after = rng.normal(0.8, 0.1, 1000)
    delay = next(i for i, x in enumerate(after) if detector.update(x))
    assert delay < 50


def test_page_hinkley_refuses_nan():
    with pytest.raises(gainnet.GainnetError):
        PageHinkley().update(float("nan"))
    with pytest.raises(gainnet.GainnetError):
        PageHinkley(threshold=0)
