"""The AIGX virtuous cycle in a few lines: a GDM trained in good weather (T1) serves through a
rainstorm (T2); the cycle detects the drift, labels new channels with water-filling, retrains
and redeploys.

    python examples/retraining_cycle.py [--quick] [--database runs/cycle.sqlite]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from gainnet.continual import Cycle, CycleConfig, Phase
from gainnet.continual.metrics import summarise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small model, few rounds")
    parser.add_argument("--database", type=Path, default=None, help="SQLite store (default: temp)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    database = args.database or Path(tempfile.mkdtemp()) / "cycle.sqlite"
    size = (
        {
            "initial_labels": 3000,
            "initial_steps": 800,
            "labels_per_retrain": 600,
            "retrain_steps": 600,
            "decisions_per_round": 100,
            "drift_window": 200,
            "holdout": 300,
            "solver_params": {"hidden": 64},
        }
        if args.quick
        else {}
    )
    rounds = (3, 4) if args.quick else (10, 20)
    config = CycleConfig(
        phases=(Phase("T1", rounds[0], "aigx-t1"), Phase("T2 rainstorm", rounds[1], "aigx-t2")),
        database=str(database),
        **size,
    )
    reports = []
    for report in Cycle(config):
        reports.append(report)
        flags = ("drift/gap trigger " if report.triggered else "") + (
            "-> promoted" if report.promoted else ""
        )
        print(f"round {report.round:>2} {report.phase:<13} ratio {report.ratio:.4f} {flags}")
    for phase in summarise(reports, config):
        print(phase)
    print(f"store: {database}")


if __name__ == "__main__":
    main()
