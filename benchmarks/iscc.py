"""ISCC orchestration: every solver against iscc-kkt per slot preset; the matching's curve.

    python -m benchmarks.iscc [--parts slot,matching] [--seconds 60] [--instances 500]
                              [--sizes 20x3,60x6,100x10,200x15,500x20] [--milp-instances 10]
                              [--milp-limit-s 60] [--label-limit-s 1] [--gdm-labels 384]
                              [--gdm-steps 6000] [--drl sac,ppo] [--quick] [--out DIR]

Part 1 (``iscc-slot``): each solver trained with the same wall-clock budget on each preset
(``gdm`` with best-of-16 scored by the utility), scored on the same held-out slots against the
exact ``iscc-kkt`` (ratio, 5th percentile, feasibility, latency); and the expert's batched
time per instance. Part 2 (``iscc-matching``): per size (R requests, S nodes), HiGHS's time
per instance, how often it proves optimality within its limit and its gap to the LP bound;
``gdm`` trained on ``--gdm-labels`` MILP labels (HiGHS stopped at ``--label-limit-s``),
best-of-8 (candidate spread 0.2) with two local-search passes; HiGHS stopped at that label
limit; and the untrained rules (greedy, greedy + local search, equal-priority decoding,
random restarts + local search) and, with ``--drl``, DRL solvers trained for as long as
``gdm`` took (its labelling included), all on the same instances.

Writes ``iscc_slot.csv``, ``iscc_matching.csv`` and ``iscc_matching.png`` (quality versus
decision time) under ``--out`` (default
``benchmarks/results``) and Markdown tables on stdout, with the commit and thread count.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # NumPy's BLAS too: one thread, like torch

import torch

import gainnet
from benchmarks.common import commit, machine, parser
from gainnet import reports
from gainnet.reproduce.iscc import matching_size
from gainnet.reproduce.iscc_report import quality_vs_time

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
MATCHING_SIZES = ((20, 3), (60, 6), (100, 10), (200, 15), (500, 20))
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


def matching_row(r_count: int, s_count: int, args) -> dict:
    """One size of the quality-versus-time curve (:func:`gainnet.reproduce.iscc.matching_size`):
    gdm trained on MILP labels, the baselines and HiGHS at two limits, on the same slots."""
    sizes = {
        "matching": {
            "labels": args.gdm_labels,
            "steps": args.gdm_steps,
            "drl": [name for name in args.drl.split(",") if name],
        },
        "matching_test": args.milp_instances,
        "milp_limit_s": args.milp_limit_s,
        "label_limit_s": args.label_limit_s,
    }
    row = matching_size(r_count, s_count, sizes, seed=0)
    print(f"  matching R={r_count} S={s_count}: {row}", file=sys.stderr, flush=True)
    return row


def main() -> None:
    args_parser = parser(__doc__)
    args_parser.add_argument("--parts", default="slot,matching", help="slot, matching or both")
    args_parser.add_argument("--seconds", type=float, default=60.0, help="training s per solver")
    args_parser.add_argument("--instances", type=int, default=500, help="held-out slots")
    args_parser.add_argument("--sizes", default=",".join(f"{r}x{s}" for r, s in MATCHING_SIZES))
    args_parser.add_argument("--milp-instances", type=int, default=10, help="per size")
    args_parser.add_argument("--milp-limit-s", type=float, default=MILP_LIMIT_S)
    args_parser.add_argument("--label-limit-s", type=float, default=1.0, help="HiGHS per label")
    args_parser.add_argument("--gdm-labels", type=int, default=384, help="MILP labels per size")
    args_parser.add_argument("--gdm-steps", type=int, default=6000, help="gdm steps per size")
    args_parser.add_argument("--drl", default="", help="e.g. sac,ppo: trained as long as gdm")
    args = args_parser.parse_args()
    torch.set_num_threads(1)
    if args.quick:
        presets, budget, instances = SLOT_PRESETS[:1], {"seconds": None, "steps": 200}, 50
        sizes = ((6, 2),)
        args.milp_instances, args.milp_limit_s, args.gdm_labels, args.gdm_steps = 2, 2.0, 16, 50
        args.drl = "sac"
    else:
        presets, budget = SLOT_PRESETS, {"seconds": args.seconds, "steps": None}
        instances = args.instances
        sizes = [tuple(int(v) for v in size.split("x")) for size in args.sizes.split(",")]
    parts = set(args.parts.split(","))
    if not parts or parts - {"slot", "matching"}:
        args_parser.error(f"--parts takes slot, matching or both, got {args.parts!r}")
    tables = []
    if "slot" in parts:
        slot = [row for p in presets for row in slot_rows(p, instances=instances, **budget)]
        reports.write_csv(slot, args.out / "iscc_slot.csv")
        tables.append(slot)
    if "matching" in parts:
        matching = []
        for r_count, s_count in sizes:  # written after every size: the large ones take long
            matching.append(matching_row(r_count, s_count, args))
            reports.write_csv(matching, args.out / "iscc_matching.csv")
        quality_vs_time(args.out / "iscc_matching.png", matching)
        tables.append(matching)
    print(f"commit {commit()}, torch threads {torch.get_num_threads()}, {machine()}\n")
    for rows in tables:
        keys = list(rows[0])
        print("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
        for row in rows:
            cells = [f"{v:.5g}" if isinstance(v, float) else str(v) for v in row.values()]
            print("| " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main()
