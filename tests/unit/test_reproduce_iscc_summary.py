"""The ISCC case study's phase split: before the failure, after it until the first promotion
after it (inclusive), and after retraining; ratios are to the MILP on the same rounds."""

from __future__ import annotations

import pytest

from gainnet.reproduce.iscc import SOLVERS, summarise_case


def rounds(promoted_at: set[int], total: int = 6) -> list[dict]:
    rows = []
    for r in range(total):
        for i, solver in enumerate(SOLVERS):
            rows.append(
                {
                    "round": r,
                    "solver": solver,
                    "utility": 10.0 - i - (2.0 if solver == "gdm" and r in (2, 3) else 0.0),
                    "expert_utility": 10.0,
                    "miss_rate": 0.1 * i,
                    "feasible_rate": 1.0,
                    "ms_per_decision": 1.0 + i,
                    "promoted": r in promoted_at,
                }
            )
    return rows


def test_phases_split_at_the_failure_and_the_first_promotion_after_it():
    summary, timeline = summarise_case(rounds({0, 3}), failure_round=2)
    assert timeline == {"failure_round": 2, "recovered_at_round": 4}
    assert {p: summary[p]["gdm"]["rounds"] for p in summary} == {
        "before failure": 2,
        "after failure": 2,
        "after retraining": 2,
    }
    assert summary["after failure"]["gdm"]["ratio"] == pytest.approx(0.8)
    assert summary["after retraining"]["gdm"]["ratio"] == pytest.approx(1.0)
    assert summary["before failure"]["milp"]["ratio"] == pytest.approx(0.9)  # index 1 in SOLVERS


def test_without_a_promotion_after_the_failure_there_is_no_recovery_phase():
    summary, timeline = summarise_case(rounds({0}), failure_round=2)
    assert timeline["recovered_at_round"] is None
    assert set(summary) == {"before failure", "after failure"}
    assert summary["after failure"]["gdm"]["rounds"] == 4
