"""Interference power control: generative solvers against WMMSE on the same instances.

    python -m benchmarks.interference_power_control [--users 10,20,50] [--steps 40000]
        [--labels 100000] [--samples 1,4,16] [--inference-steps 1,3,10] [--refine 0,5,20]
        [--drl-steps 0] [--drl-users 10] [--quick]

For each K (Gaussian interference channel, ``interference`` preset ``gaussian-K``): WMMSE from
full power (100 iterations) and the best of 10 starts (``wmmse-restarts``) on 1,000 held-out
instances; ``gdm`` trained on the best WMMSE local optima of every training instance
(``label_candidates``) and deciding with best-of-N for every N, every number of denoising
steps and every number of WMMSE refinement iterations applied to each candidate
(``refine_iterations``; 0 = the diffusion model alone); ``max-power`` and ``random``; and, when
``--drl-steps`` is set, ``sac``, ``ppo`` and ``gdm-reward`` with that many steps (for the K in
``--drl-users``). Every time is the median wall time of deciding the whole
batch of 1,000 (3 runs), with 1 torch thread. Writes
``benchmarks/results/interference_power_control.csv`` and prints Markdown tables with the commit.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import dataclasses

import numpy as np
import torch

import gainnet
from benchmarks.common import commit, figures_dir, machine, parser
from gainnet import reports

INSTANCES = 1000


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def timed(fn, repeats: int = 3):
    """``(result, median seconds)`` of ``repeats`` calls."""
    seconds, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - start)
    return result, float(np.median(seconds))


def row(k, name, scenario, state, decision, seconds, references, **extra) -> dict:
    utility = scenario.utility(state, decision)
    out = {"users": k, "solver": name, **extra, "batch_s": seconds}
    out["sum_rate"] = float(utility.mean())
    for ref_name in ("wmmse", "restarts"):
        ref_utility = references[ref_name]
        out[f"ratio_{ref_name}"] = float(utility.mean() / ref_utility.mean())
        out[f"time_vs_{ref_name}"] = seconds / references[f"{ref_name}_s"]
    out["p05_ratio_wmmse"] = float(np.percentile(utility / references["wmmse"], 5))
    out["feasible_rate"] = float(scenario.is_feasible(state, decision).mean())
    return out


def plot(rows: list[dict], path: Path) -> Path:
    """Sum rate (relative to WMMSE) against decision time, one panel per K."""
    users = sorted({int(r["users"]) for r in rows})
    size = (4.6 * len(users), 3.8)
    with reports.figure(path, 1, len(users), size, squeeze=False) as (_, axes):
        _panels(axes, users, rows)
    return path


def _panels(axes, users: list[int], rows: list[dict]) -> None:
    for ax, k in zip(axes[0], users, strict=True):
        mine = [r for r in rows if int(r["users"]) == k]
        for refine, marker in (("0", "o"), ("5", "s"), ("20", "^")):
            pts = [
                r for r in mine if r["solver"] == "gdm" and str(r["refine_iterations"]) == refine
            ]
            label = "gdm" if refine == "0" else f"gdm + {refine} WMMSE iterations"
            ms = [1000 * float(r["batch_s"]) for r in pts]
            ax.scatter(ms, [float(r["ratio_wmmse"]) for r in pts], marker=marker, label=label)
        for r in mine:
            if r["solver"] != "gdm" and float(r["ratio_wmmse"]) > 0.6:
                ax.scatter(1000 * float(r["batch_s"]), float(r["ratio_wmmse"]), c="k", marker="x")
                ax.annotate(r["solver"], (1000 * float(r["batch_s"]), float(r["ratio_wmmse"])),
                            fontsize=7, xytext=(3, 3), textcoords="offset points")  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("wall time for 1,000 decisions (ms, 1 thread)")
        ax.set_ylabel("sum rate / WMMSE's")
        ax.set_title(f"K = {k} (Gaussian interference channel)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--users", default="10,20,50")
    options.add_argument("--steps", type=int, default=40_000, help="gdm training steps")
    options.add_argument("--labels", type=int, default=100_000, help="labelled training instances")
    options.add_argument("--label-candidates", type=int, default=4)
    options.add_argument("--hidden", type=int, default=256)
    options.add_argument("--samples", default="1,4,16")
    options.add_argument("--inference-steps", default="1,3,10")
    options.add_argument("--refine", default="0,5,20", help="WMMSE iterations per candidate")
    options.add_argument("--drl-steps", type=int, default=0, help="sac/ppo/gdm-reward steps")
    options.add_argument("--drl-users", default="10", help="K values that run the DRL solvers")
    options.add_argument("--plot-only", action="store_true", help="redraw the figure from the CSV")
    args = options.parse_args()
    figure = figures_dir(args.out) / "interference_power_control.png"
    if args.plot_only:
        plot(reports.read_csv(args.out / "interference_power_control.csv"), figure)
        return
    torch.set_num_threads(1)
    if args.quick:
        args.steps, args.labels, args.samples, args.inference_steps = 30, 300, "1,4", "1,3"
        args.refine, args.users, args.hidden, args.label_candidates = "0,5", "4", 32, 2
    at = commit()  # before this run writes its own results
    rows: list[dict] = []
    for k in (int(x) for x in args.users.split(",")):
        scenario = gainnet.make_scenario("interference", num_users=k)
        state = scenario.sample(INSTANCES, gainnet.rng_for(1, "eval"))
        wmmse = gainnet.make_expert("wmmse", scenario)
        restarts = gainnet.make_expert("wmmse-restarts", scenario)
        log(f"K={k}: experts")
        single, single_s = timed(lambda: wmmse.solve(state))  # noqa: B023
        best, best_s = timed(lambda: restarts.solve(state))  # noqa: B023
        refs = {
            "wmmse": scenario.utility(state, single),
            "wmmse_s": single_s,
            "restarts": scenario.utility(state, best),
            "restarts_s": best_s,
        }
        rows.append(row(k, "wmmse", scenario, state, single, single_s, refs))
        rows.append(row(k, "wmmse-restarts (R=10)", scenario, state, best, best_s, refs))
        for name in ("max-power", "random"):
            solver = gainnet.make_solver(name, scenario)
            decision, seconds = timed(lambda: solver.decide(state))  # noqa: B023
            rows.append(row(k, name, scenario, state, decision, seconds, refs))

        log(f"K={k}: gdm, {args.labels} instances x {args.label_candidates} WMMSE optima, "
            f"{args.steps} steps")  # fmt: skip
        solver = gainnet.make_solver(
            "gdm", scenario, seed=0, hidden=args.hidden, num_labels=args.labels,
            label_candidates=args.label_candidates,
        )  # fmt: skip
        start = time.perf_counter()
        solver.fit(gainnet.Budget(steps=args.steps), expert=restarts)
        train_s = time.perf_counter() - start
        for steps in (int(x) for x in args.inference_steps.split(",")):
            solver.set_inference_steps(steps)
            for n in (int(x) for x in args.samples.split(",")):
                for refine in (int(x) for x in args.refine.split(",")):
                    solver.config = dataclasses.replace(
                        solver.config, num_samples=n, refine_iterations=refine
                    )
                    decision, seconds = timed(lambda: solver.decide(state))  # noqa: B023
                    extra = {"num_samples": n, "inference_steps": steps,
                             "refine_iterations": refine, "train_s": train_s}  # fmt: skip
                    rows.append(row(k, "gdm", scenario, state, decision, seconds, refs, **extra))
                    log(f"  gdm N={n} steps={steps} refine={refine}: "
                        f"{rows[-1]['ratio_wmmse']:.4f} of wmmse, "
                        f"{rows[-1]['time_vs_wmmse']:.2f}x its time")  # fmt: skip
        if args.drl_steps and str(k) in args.drl_users.split(","):
            for name in ("gdm-reward", "sac", "ppo"):
                log(f"K={k}: {name}, {args.drl_steps} steps")
                other = gainnet.make_solver(name, scenario, seed=0)
                start = time.perf_counter()
                other.fit(gainnet.Budget(steps=args.drl_steps))
                train = time.perf_counter() - start
                decision, seconds = timed(lambda: other.decide(state))  # noqa: B023
                rows.append(row(k, name, scenario, state, decision, seconds, refs, train_s=train))
    fields = list(dict.fromkeys(key for r in rows for key in r))
    reports.write_csv(rows, args.out / "interference_power_control.csv", fields)
    plot(rows, figure)
    print(f"commit {at}, {machine()}, torch threads {torch.get_num_threads()}, "
          f"{INSTANCES} instances, gdm {args.steps} steps, {args.labels} x "
          f"{args.label_candidates} labels, hidden {args.hidden}")  # fmt: skip
    print(
        "| K | solver | N | denoising steps | WMMSE refine | / WMMSE | / restarts | p05 / WMMSE "
        "| batch of 1,000 | time / WMMSE's |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['users']} | {r['solver']} | {r.get('num_samples', '')} | "
            f"{r.get('inference_steps', '')} | {r.get('refine_iterations', '')} | "
            f"{r['ratio_wmmse']:.4f} | {r['ratio_restarts']:.4f}"
            f" | {r['p05_ratio_wmmse']:.3f} | {1000 * r['batch_s']:.1f} ms | "
            f"{r['time_vs_wmmse']:.3f} |"
        )


if __name__ == "__main__":
    main()
