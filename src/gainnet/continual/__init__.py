"""The drift -> relabel -> retrain -> redeploy cycle.

Done so far: drift detectors (:mod:`.drift`) and the SQLite store (:mod:`.store`). The
``Cycle`` runtime that joins them is not written yet.
"""

from gainnet.continual.drift import DriftTest, KSDriftDetector, PageHinkley
from gainnet.continual.store import Promotion, Store

__all__ = ["DriftTest", "KSDriftDetector", "PageHinkley", "Promotion", "Store"]
