"""The drift -> relabel -> retrain -> redeploy cycle (work in progress: detectors first)."""

from gainnet.continual.drift import KSDriftDetector, PageHinkley

__all__ = ["KSDriftDetector", "PageHinkley"]
