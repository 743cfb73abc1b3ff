"""The drift -> relabel -> retrain -> redeploy cycle.

``Cycle(CycleConfig(...))`` yields one :class:`RoundReport` per served batch; see
:mod:`gainnet.continual.cycle`. Drift detectors are in :mod:`.drift`, the SQLite store in
:mod:`.store`.
"""

from gainnet.continual.cycle import Cycle, CycleConfig, Phase, RoundReport
from gainnet.continual.drift import DriftTest, KSDriftDetector, PageHinkley
from gainnet.continual.store import Promotion, Store

__all__ = [
    "Cycle",
    "CycleConfig",
    "DriftTest",
    "KSDriftDetector",
    "PageHinkley",
    "Phase",
    "Promotion",
    "RoundReport",
    "Store",
]
