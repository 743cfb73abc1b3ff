"""ISCC orchestration: every solver against iscc-kkt per slot preset; the matching's MILP time.

    python -m benchmarks.iscc [--seconds 60] [--instances 500] [--sizes 20x3,40x5,60x6,100x10]
                              [--milp-instances 10] [--milp-limit-s 60] [--quick] [--out DIR]

Part 1 (``iscc-slot``): each solver trained with the same wall-clock budget on each preset
(``gdm`` with best-of-16 scored by the utility), scored on the same held-out slots against the
exact ``iscc-kkt`` (ratio, 5th percentile, feasibility, latency); and the expert's batched
time per instance. Part 2 (``iscc-matching``): per size (R requests, S nodes), HiGHS's time
per instance, how often it proves optimality within its limit and its gap to the LP bound,
beside the untrained rules (greedy, equal-priority decoding) on the same instances.

Writes ``iscc_slot.csv`` and ``iscc_matching.csv`` under ``--out`` (default
``benchmarks/results``) and Markdown tables on stdout, with the commit and thread count.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # NumPy's BLAS too: one thread, like torch

import numpy as np
import torch

import gainnet
from benchmarks.common import commit, machine, parser
from gainnet import reports

SLOT_PRESETS = ("edge-gpu", "dense-cell", "vehicular")
SLOT_SOLVERS = {
    "gdm": {"num_samples": 16},
    "td3": {},
    "sac": {},
    "ppo": {},
    "uniform": {},
    "random": {},
}
#: (R, S) sizes of the matching part and HiGHS's limit per instance (s)
MATCHING_SIZES = ((20, 3), (40, 5), (60, 6), (100, 10))
MILP_LIMIT_S = 60.0


def slot_rows(preset: str, seconds: float | None, steps: int | None, instances: int) -> list:
    scenario = gainnet.make_scenario("iscc-slot", preset=preset)
    rows = []
    for name, params in SLOT_SOLVERS.items():
        solver = gainnet.make_solver(name, scenario, seed=0, **params)
        expert = scenario.default_expert() if solver.uses_expert else None
        report = solver.fit(gainnet.Budget(seconds=seconds, steps=steps), expert=expert)
        e = gainnet.evaluate(solver, scenario, instances=instances, seed=0, single_repeats=20)
        rows.append(
            {
                "preset": preset,
                "solver": name,
                "train_seconds": round(report.seconds, 2),
                "ratio": e.ratio,
                "p05_ratio": e.p05_ratio,
                "feasible_rate": e.feasible_rate,
                "ms_per_decision": 1e3 * e.seconds_per_decision,
                "ms_single": 1e3 * e.seconds_single,
                "expert_ms_per_instance": 1e3 * e.expert_seconds_per_decision,
            }
        )
        print(f"  slot {preset:>10} {name:>8}: ratio {e.ratio:.5f}", file=sys.stderr, flush=True)
    return rows


def matching_row(r_count: int, s_count: int, instances: int, limit_s: float) -> dict:
    scenario = gainnet.make_scenario("iscc-matching", num_requests=r_count, num_nodes=s_count)
    state = scenario.sample(instances, gainnet.rng_for(0, "eval"))
    milp = gainnet.make_expert("iscc-milp", scenario, time_limit_s=limit_s)
    best = scenario.utility(state, milp.solve(state))
    bound = np.array([result.bound for result in milp.last])
    seconds = np.array([result.seconds for result in milp.last])
    row = {
        "R": r_count,
        "S": s_count,
        "instances": instances,
        "milp_limit_s": limit_s,
        "milp_seconds_median": float(np.median(seconds)),
        "milp_seconds_max": float(seconds.max()),
        "milp_proven_rate": float(np.mean([result.optimal for result in milp.last])),
        "milp_gap_to_lp_bound": float(np.mean(1 - best / bound)),
    }
    start = time.perf_counter()
    greedy = scenario.greedy(state)
    row["greedy_ms"] = 1e3 * (time.perf_counter() - start) / instances
    row["greedy_ratio"] = float(np.mean(scenario.utility(state, greedy) / best))
    start = time.perf_counter()
    equal = scenario.decode(state, np.ones((instances, scenario.action_dim)))
    row["equal_priority_ms"] = 1e3 * (time.perf_counter() - start) / instances
    row["equal_priority_ratio"] = float(np.mean(scenario.utility(state, equal) / best))
    print(f"  matching R={r_count} S={s_count}: {row}", file=sys.stderr, flush=True)
    return row


def main() -> None:
    args_parser = parser(__doc__)
    args_parser.add_argument("--seconds", type=float, default=60.0, help="training s per solver")
    args_parser.add_argument("--instances", type=int, default=500, help="held-out slots")
    args_parser.add_argument("--sizes", default=",".join(f"{r}x{s}" for r, s in MATCHING_SIZES))
    args_parser.add_argument("--milp-instances", type=int, default=10, help="per size")
    args_parser.add_argument("--milp-limit-s", type=float, default=MILP_LIMIT_S)
    args = args_parser.parse_args()
    torch.set_num_threads(1)
    if args.quick:
        presets, budget, instances = SLOT_PRESETS[:1], {"seconds": None, "steps": 200}, 50
        sizes, matching_instances, limit_s = ((6, 2),), 2, 2.0
    else:
        presets, budget = SLOT_PRESETS, {"seconds": args.seconds, "steps": None}
        instances = args.instances
        sizes = [tuple(int(v) for v in size.split("x")) for size in args.sizes.split(",")]
        matching_instances, limit_s = args.milp_instances, args.milp_limit_s
    slot = [row for p in presets for row in slot_rows(p, instances=instances, **budget)]
    matching = [matching_row(r, s, matching_instances, limit_s) for r, s in sizes]
    reports.write_csv(slot, args.out / "iscc_slot.csv")
    reports.write_csv(matching, args.out / "iscc_matching.csv")
    print(f"commit {commit()}, torch threads {torch.get_num_threads()}, {machine()}\n")
    for rows in (slot, matching):
        keys = list(rows[0])
        print("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
        for row in rows:
            cells = [f"{v:.5g}" if isinstance(v, float) else str(v) for v in row.values()]
            print("| " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main()
