"""Federated engines: what Flower costs per round against the in-process engine, same result.

    python -m benchmarks.federated_engines [--sites 6] [--rounds 5] [--deployment] [--quick]
                                           [--out DIR]

One federation (the quick case study's sites, ``gdm`` on power allocation, random half of the
sites per round, int8 uplinks, the label audit on) runs on the in-process engine, on Flower's
Simulation Engine (Ray, in a spawned child) and, with ``--deployment``, on Flower's Deployment
Engine (a SuperLink and one SuperNode per site, separate processes on loopback). Each engine's
wall seconds, seconds per round beyond the in-process engine's (its overhead) and the largest
difference of its per-round ratios from the in-process run's are recorded. One torch thread
per process.

Writes ``federated_engines.csv`` under ``--out`` (default ``benchmarks/results``) and a
Markdown table on stdout, with the commit and thread count.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

from benchmarks.common import commit, machine, parser
from gainnet import reports
from gainnet.federated import federation_from_dict, run_federation
from gainnet.reproduce.federated import case_config

COLUMNS = (
    "engine",
    "sites",
    "rounds",
    "wall_s",
    "wall_s_per_round",
    "overhead_s_per_round",
    "max_abs_ratio_diff",
    "final_ratio",
    "torch_threads",
    "commit",
)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--sites", type=int, default=6)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--deployment", action="store_true", help="also the Deployment Engine")
    args = p.parse_args()
    if args.quick:
        args.sites, args.rounds = 3, 2
    torch.set_num_threads(1)
    base = case_config(quick=True, seed=0).to_dict()
    sites = base.pop("sites")[: args.sites]
    config = federation_from_dict(
        {
            **base,
            "sites": sites,
            "rounds": args.rounds,
            "clients_per_round": max(1, args.sites // 2),
            "compression": "int8",
            "audit": True,
        }
    )
    engines = ["in-process", "flower-simulation"]
    if args.deployment:
        engines.append("flower-deployment")
    runs = {engine: run_federation(config, engine=engine) for engine in engines}
    reference = runs["in-process"]
    rows = []
    for engine, run in runs.items():
        diff = np.abs(
            np.subtract(
                [r["ratio"] for r in run["rounds"]], [r["ratio"] for r in reference["rounds"]]
            )
        )
        rows.append(
            {
                "engine": engine,
                "sites": args.sites,
                "rounds": args.rounds,
                "wall_s": run["wall_s"],
                "wall_s_per_round": run["wall_s"] / args.rounds,
                "overhead_s_per_round": (run["wall_s"] - reference["wall_s"]) / args.rounds,
                "max_abs_ratio_diff": float(diff.max()),
                "final_ratio": run["final_ratio"],
                "torch_threads": torch.get_num_threads(),
                "commit": commit(),
            }
        )
    args.out.mkdir(parents=True, exist_ok=True)
    reports.write_csv(rows, args.out / "federated_engines.csv", COLUMNS)
    print(f"commit {commit()}, {machine()}, 1 torch thread per process\n")
    print("| engine | wall s | s per round | overhead s per round | max abs ratio diff |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['engine']} | {row['wall_s']:.1f} | {row['wall_s_per_round']:.2f} | "
            f"{row['overhead_s_per_round']:.2f} | {row['max_abs_ratio_diff']:.1e} |"
        )
    print("\nratio: in-process engine " + f"{reference['final_ratio']:.4f}")


if __name__ == "__main__":
    main()
