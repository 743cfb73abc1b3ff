"""Drift detectors that need no expert: tests on what the deployed solver observes.

- :class:`KSDriftDetector`: two-sample Kolmogorov-Smirnov test of each observation feature of
  a recent window against a reference window (Bonferroni-corrected over features).
- :class:`PageHinkley`: sequential test for a drop in the mean of a scalar stream (for example
  the served utility, or an audited gap to the expert).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections import deque

import numpy as np
from scipy.stats import ks_2samp

from gainnet.errors import GainnetError


@dataclasses.dataclass(frozen=True)
class DriftTest:
    """The outcome of one drift test.

    Attributes
    ----------
    drifted : bool
        Whether the corrected p-value is below ``alpha``.
    p_value : float
        Smallest per-feature p-value times the number of features (Bonferroni), capped at 1.
    statistic : float
        Largest per-feature KS statistic.
    feature : int
        Index of the feature with the largest statistic.
    """

    drifted: bool
    p_value: float
    statistic: float
    feature: int


class KSDriftDetector:
    """Compares a sliding window of observations with a reference sample, feature by feature.

    Parameters
    ----------
    reference : ndarray, [N, d]
        Observations the deployed solver was trained on (N >= 20).
    window : int
        Most recent observations kept for the test.
    alpha : float
        Family-wise significance level.
    """

    def __init__(self, reference: np.ndarray, window: int = 500, alpha: float = 0.01) -> None:
        reference = np.asarray(reference, dtype=float)
        if reference.ndim != 2 or reference.shape[0] < 20:
            raise GainnetError(f"reference must be [N >= 20, d], got {list(reference.shape)}")
        if not np.all(np.isfinite(reference)):
            raise GainnetError("reference observations contain NaN or infinite values")
        if int(window) < 20 or not 0 < alpha < 1:
            raise GainnetError("window must be >= 20 and alpha in (0, 1)")
        self.reference = reference
        self.window = int(window)
        self.alpha = float(alpha)
        self._recent: deque[np.ndarray] = deque()
        self._count = 0

    def reset(self, reference: np.ndarray | None = None) -> None:
        """Forget the window (and optionally replace the reference, e.g. after retraining)."""
        if reference is not None:
            self.__init__(reference, self.window, self.alpha)
        else:
            self._recent.clear()
            self._count = 0

    def update(self, observations: np.ndarray) -> DriftTest | None:
        """Add a batch ``[n, d]``; returns the test once the window is full, else ``None``."""
        observations = np.asarray(observations, dtype=float)
        if observations.ndim != 2 or observations.shape[1] != self.reference.shape[1]:
            width = self.reference.shape[1]
            raise GainnetError(f"observations must be [n, {width}], got {list(observations.shape)}")
        self._recent.append(observations)
        self._count += len(observations)
        while self._count - len(self._recent[0]) >= self.window:
            self._count -= len(self._recent.popleft())
        if self._count < self.window:
            return None
        return self.test(np.concatenate(self._recent)[-self.window :])

    def test(self, sample: np.ndarray) -> DriftTest:
        """KS test of ``sample`` [n, d] against the reference."""
        d = self.reference.shape[1]
        with warnings.catch_warnings():  # SciPy falls back to the asymptotic p-value itself
            warnings.filterwarnings("ignore", "ks_2samp: Exact calculation unsuccessful")
            result = ks_2samp(self.reference, sample, axis=0)
        statistic = np.atleast_1d(result.statistic)
        p_values = np.atleast_1d(result.pvalue)
        p_value = float(min(1.0, p_values.min() * d))
        feature = int(np.argmax(statistic))
        return DriftTest(p_value < self.alpha, p_value, float(statistic[feature]), feature)


class PageHinkley:
    """Page-Hinkley test for a decrease of the mean of a scalar stream.

    Alarm when ``max_t m_t - m_T > threshold`` where ``m_t = sum_{s<=t} (x_s - mean_s + delta)``.

    Parameters
    ----------
    delta : float
        Magnitude of change tolerated without alarm (units of the stream).
    threshold : float
        Alarm level (units of the stream times samples).
    min_samples : int
        Samples before any alarm.
    """

    def __init__(self, delta: float = 0.005, threshold: float = 5.0, min_samples: int = 30) -> None:
        if not (math.isfinite(delta) and delta >= 0 and math.isfinite(threshold) and threshold > 0):
            raise GainnetError("delta must be >= 0 and threshold > 0")
        self.delta, self.threshold, self.min_samples = (
            float(delta),
            float(threshold),
            int(min_samples),
        )
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.mean = 0.0
        self.cumulative = 0.0
        self.peak = 0.0

    def update(self, values: np.ndarray | float) -> bool:
        """Feed one value or a batch; ``True`` as soon as a drop is detected (then resets)."""
        for x in np.atleast_1d(np.asarray(values, dtype=float)):
            if not math.isfinite(x):
                raise GainnetError("Page-Hinkley got a NaN or infinite value")
            self.count += 1
            self.mean += (x - self.mean) / self.count
            self.cumulative += x - self.mean + self.delta
            self.peak = max(self.peak, self.cumulative)
            if self.count >= self.min_samples and self.peak - self.cumulative > self.threshold:
                self.reset()
                return True
        return False
