"""Per-phase metrics of a cycle run: ratio, detection delay, regret, labels, retraining time."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from gainnet.continual.cycle import CycleConfig, RoundReport


@dataclasses.dataclass(frozen=True)
class PhaseSummary:
    """What the cycle did in one phase.

    Attributes
    ----------
    phase : str
    ratio : float
        Mean served utility over mean expert utility across the phase.
    detection_delay : int or None
        Decisions served from the phase's onset until the first trigger (None: no trigger).
    recovery_decisions : int or None
        Decisions from the onset until the first round at or above ``target`` (0 when the
        phase never dropped below it; None when it never recovered).
    regret : float
        Utility lost against the expert from the onset until recovery (utility units summed
        over decisions, e.g. bit/s/Hz x decisions).
    labels_used : int
        Expert labels collected from the onset until recovery (audits included).
    retrain_seconds : float
        Wall seconds spent retraining in the phase.
    promotions : int
    """

    phase: str
    ratio: float
    detection_delay: int | None
    recovery_decisions: int | None
    regret: float
    labels_used: int
    retrain_seconds: float
    promotions: int


def summarise(
    reports: Sequence[RoundReport], config: CycleConfig, target: float = 0.99
) -> list[PhaseSummary]:
    """One :class:`PhaseSummary` per phase of ``config`` present in ``reports``."""
    n = config.decisions_per_round
    summaries = []
    labels_before = reports[0].labels_total if reports else 0
    start = 0
    for phase in config.phases:
        rounds = list(reports[start : start + phase.rounds])
        start += phase.rounds
        if not rounds:
            break
        trigger = next((i for i, r in enumerate(rounds) if r.triggered), None)
        recovered = next((i for i, r in enumerate(rounds) if r.ratio >= target), None)
        until = len(rounds) if recovered is None else recovered
        regret = sum((r.expert_utility - r.served_utility) * n for r in rounds[:until])
        labels_at = rounds[until - 1].labels_total if until > 0 else labels_before
        summaries.append(
            PhaseSummary(
                phase=phase.name,
                ratio=sum(r.served_utility for r in rounds) / sum(r.expert_utility for r in rounds),
                detection_delay=None if trigger is None else (trigger + 1) * n,
                recovery_decisions=None if recovered is None else recovered * n,
                regret=float(regret),
                labels_used=int(labels_at - labels_before),
                retrain_seconds=sum(r.retrain_seconds for r in rounds),
                promotions=sum(r.promoted for r in rounds),
            )
        )
        labels_before = rounds[-1].labels_total
    return summaries
