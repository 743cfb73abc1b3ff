"""Learned incentive solvers beside the exact experts, on the same held-out instances.

    python -m benchmarks.incentive_learning [--steps 9000] [--samples 1,8,32]
        [--label-candidates 16] [--inference-steps 3,10,30]

``gdm`` imitates the exact expert on ``contract`` (seed003 preset) and on
``stackelberg-split`` with complete information (seed002 preset) for a fixed number of steps,
then decides 1,000 held-out instances with best-of-N for each N: ratio to the expert, 5th
percentile, feasibility (IR/IC for contracts) and latency. On ``stackelberg-split`` a second
``gdm`` learns the spread of the expert's ``--label-candidates`` best prices
(``label_candidates``) and decides with every number of denoising steps in
``--inference-steps``. Writes
``benchmarks/results/incentive_learning.csv`` and prints a Markdown table with the commit.
"""

from __future__ import annotations

import dataclasses
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import torch

import gainnet
from benchmarks.common import commit, machine, parser, save_rows


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--steps", type=int, default=9000)
    options.add_argument("--samples", default="1,8,32")
    options.add_argument("--label-candidates", type=int, default=16)
    options.add_argument(
        "--inference-steps", type=lambda v: [int(x) for x in v.split(",")], default=[3, 10, 30]
    )
    args = options.parse_args()
    if args.quick:
        args.steps, args.samples, args.label_candidates, args.inference_steps = 20, "1,2", 2, [3]
    instances = 50 if args.quick else 1000
    labels = {"num_labels": 256} if args.quick else {}
    torch.set_num_threads(1)
    at = commit()  # before this run writes its own results
    rows = []
    cases = [("contract", "seed003", 1, [3]), ("stackelberg-split", "seed002", 1, [3])]
    cases.append(("stackelberg-split", "seed002", args.label_candidates, args.inference_steps))
    for name, preset, candidates, inference_steps in cases:
        scenario = gainnet.make_scenario(name, preset=preset)
        solver = gainnet.make_solver("gdm", scenario, seed=0, label_candidates=candidates, **labels)
        start = time.perf_counter()
        solver.fit(gainnet.Budget(steps=args.steps), expert=scenario.default_expert())
        train_s = time.perf_counter() - start
        for steps in inference_steps:
            solver.set_inference_steps(steps)
            for k in (int(x) for x in args.samples.split(",")):
                solver.config = dataclasses.replace(solver.config, num_samples=k)
                result = gainnet.evaluate(solver, scenario, instances=instances, seed=1)
                rows.append(
                    {
                        "scenario": name,
                        "preset": preset,
                        "steps": args.steps,
                        "train_s": train_s,
                        "label_candidates": candidates,
                        "inference_steps": steps,
                        "num_samples": k,
                        "ratio": result.ratio,
                        "p05_ratio": result.p05_ratio,
                        "feasible_rate": result.feasible_rate,
                        "us_per_decision_batched": 1e6 * result.seconds_per_decision,
                        "ms_single": 1e3 * result.seconds_single,
                        "expert_us_per_decision": 1e6 * result.expert_seconds_per_decision,
                    }
                )
    save_rows(rows, args.out / "incentive_learning.csv")
    print(f"commit {at}, {machine()}, torch threads {torch.get_num_threads()}")
    print("| scenario | steps | labels per state | denoising steps | N | ratio | p05 | feasible "
          "| batched | single | expert |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['scenario']} | {r['steps']} ({r['train_s']:.0f} s) | {r['label_candidates']} | "
            f"{r['inference_steps']} | {r['num_samples']} | "
            f"{r['ratio']:.4f} | {r['p05_ratio']:.4f} | {r['feasible_rate']:.3f} | "
            f"{r['us_per_decision_batched']:.0f} us | {r['ms_single']:.2f} ms | "
            f"{r['expert_us_per_decision']:.0f} us |"
        )


if __name__ == "__main__":
    main()
