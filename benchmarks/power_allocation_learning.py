"""Ratio to water-filling versus training seconds, per solver, on the same held-out instances.

    python -m benchmarks.power_allocation_learning [--seconds 120] [--preset gdmopt] [--quick]

Writes ``benchmarks/results/power_allocation_learning.csv`` (the learning curves),
``benchmarks/results/power_allocation_final.csv`` (the final evaluation with latencies),
``benchmarks/figures/power_allocation_learning.png`` and a Markdown table on stdout, with the
commit and torch thread count. Every solver gets the same wall-clock budget; evaluation time is
not charged to training (see ``TrainingClock``).
"""

from __future__ import annotations

import json
import os
import platform
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # NumPy's BLAS too: one thread, like torch

import torch

import gainnet
from benchmarks.common import commit, figures_dir, parser
from gainnet import reports
from gainnet.reports import plot_learning_curves

CHECKPOINTS_S = (1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 300)
TARGETS = {"gdm": (0.995, 0.999), "gdm-reward": (0.99,)}


def parse_spec(spec: str) -> tuple[str, dict]:
    """``"gdm-reward:gradient=utility+hidden=64"`` -> ``("gdm-reward", {...})``."""
    name, _, options = spec.partition(":")
    params = {}
    for item in filter(None, options.split("+")):
        key, _, value = item.partition("=")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return name, params


def learning_curve(spec, scenario, seconds, instances, seed):
    name_only, params = parse_spec(spec)
    solver = gainnet.make_solver(name_only, scenario, seed=seed, **params)
    name = spec
    rows = []
    marks = [c for c in CHECKPOINTS_S if c < seconds] + [seconds]

    def callback(info):
        if marks and info.seconds >= marks[0]:
            while marks and info.seconds >= marks[0]:
                marks.pop(0)
            e = gainnet.evaluate(solver, scenario, instances=instances, seed=seed, single_repeats=0)
            rows.append(
                {
                    "solver": name,
                    "train_seconds": round(info.seconds, 2),
                    "step": info.step,
                    "ratio": e.ratio,
                    "p05_ratio": e.p05_ratio,
                    "feasible_rate": e.feasible_rate,
                }
            )
            print(
                f"  {name:>10} {info.seconds:7.1f} s step {info.step:>7}: ratio {e.ratio:.4f}",
                file=sys.stderr,
                flush=True,
            )

    expert = scenario.default_expert() if solver.uses_expert else None
    report = solver.fit(gainnet.Budget(seconds=seconds), expert=expert, callback=callback)
    final = gainnet.evaluate(solver, scenario, instances=instances, seed=seed, single_repeats=200)
    rows.append(
        {
            "solver": name,
            "train_seconds": round(report.seconds, 2),
            "step": report.steps,
            "ratio": final.ratio,
            "p05_ratio": final.p05_ratio,
            "feasible_rate": final.feasible_rate,
        }
    )
    return rows, final, report


def make_figure(curves, finals, path, preset, threads):
    """Gap to water-filling (1 - ratio, log scale) versus training seconds."""
    equal = next((r["ratio"] for r in finals if r["solver"] == "uniform"), None)
    rows = [
        {**r, "gap_to_optimum": max(1.0 - float(r["ratio"]), 1e-6)}
        for r in curves
        if r["solver"] not in ("uniform", "random")
    ]
    plot_learning_curves(
        rows,
        path,
        title=f"power-allocation ({preset}): gap to water-filling, {threads} torch thread(s)",
        x="train_seconds",
        y="gap_to_optimum",
        references={"equal power": 1.0 - float(equal)} if equal is not None else None,
        log_x=True,
        log_y=True,
    )


def seconds_to(rows, name, threshold):
    hits = [r["train_seconds"] for r in rows if r["solver"] == name and r["ratio"] >= threshold]
    return min(hits) if hits else None


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--preset", default="gdmopt")
    options.add_argument(
        "--solvers",
        default="gdm,gdm-reward,gdm-reward:gradient=utility,sac,ppo,uniform,random",
        help="comma-separated; NAME:key=value+key=value sets hyper-parameters",
    )
    options.add_argument("--seconds", type=float, default=120.0)
    options.add_argument("--instances", type=int, default=1000)
    options.add_argument("--seed", type=int, default=0)
    options.add_argument("--threads", type=int, default=1)
    args = options.parse_args()
    if args.quick:
        args.seconds, args.instances = 10.0, 200
    torch.set_num_threads(args.threads)
    measured_at = commit()  # before this run rewrites the tracked result files
    scenario = gainnet.make_scenario("power-allocation", preset=args.preset)
    curves, finals = [], []
    for name in [s for s in args.solvers.split(",") if s]:
        rows, final, report = learning_curve(
            name, scenario, args.seconds, args.instances, args.seed
        )
        curves += rows
        finals.append(
            {
                **final.to_dict(),
                "solver": name,
                "train_seconds": report.seconds,
                "train_steps": report.steps,
            }
        )

    results, figures = args.out, figures_dir(args.out)
    stem = f"power_allocation_{args.preset}"
    reports.write_csv(curves, results / f"{stem}_learning.csv")
    reports.write_csv(finals, results / f"{stem}_final.csv")
    make_figure(curves, finals, figures / f"{stem}_learning.png", args.preset, args.threads)
    print(
        f"\ncommit {measured_at}, torch threads {torch.get_num_threads()}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{args.instances} held-out instances, {args.seconds:g} s budget per solver\n"
    )
    columns = (
        "solver",
        "ratio",
        "p05",
        "feasible",
        "µs/decision (batch)",
        "ms (batch 1)",
        "train s",
        "steps",
        "s to 0.99",
        "s to 0.995",
        "s to 0.999",
    )
    print("| " + " | ".join(columns) + " |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in finals:
        hits = [seconds_to(curves, r["solver"], t) for t in (0.99, 0.995, 0.999)]
        shown = ["-" if h is None else f"{h:g}" for h in hits]
        print(
            f"| {r['solver']} | {r['ratio']:.4f} | {r['p05_ratio']:.4f} | "
            f"{r['feasible_rate']:.3f} | "
            f"{r['seconds_per_decision'] * 1e6:.2f} | {r['seconds_single'] * 1e3:.3f} | "
            f"{r['train_seconds']:.0f} | {r['train_steps']} | {' | '.join(shown)} |"
        )
    expert_us = finals[0]["expert_seconds_per_decision"] * 1e6
    print(f"| water-filling (exact) | 1.0000 | 1.0000 | 1.000 | {expert_us:.2f} | | | | | | |")


if __name__ == "__main__":
    main()
