"""How far above one WMMSE run the best-known sum rate lies: WMMSE with many random starts.

    python -m benchmarks.interference_best_known [--users 10] [--starts 10,100,1000,3000]

On the same 1,000 held-out instances as ``interference_power_control.py`` (Gaussian channel,
``rng_for(1, "eval")``): the mean sum rate of the best of R WMMSE starts (full power and R - 1
random ones, 100 iterations each) over that of one WMMSE run from full power. Where the ratio
stops growing with R, no solver that only picks powers can do much better on average: it bounds
what a target of the form "x times WMMSE" can ask for. Writes
``benchmarks/results/interference_best_known.csv`` and prints a Markdown table with the commit.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

import gainnet
from benchmarks.common import commit, machine, parser, save_rows

CHUNK = 100


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--users", default="10")
    options.add_argument("--starts", default="10,100,1000,3000")
    args = options.parse_args()
    if args.quick:
        args.users, args.starts = "4", "2"
    instances = 100 if args.quick else 1000
    at = commit()
    rows = []
    for k in (int(x) for x in args.users.split(",")):
        scenario = gainnet.make_scenario("interference", num_users=k)
        state = scenario.sample(instances, gainnet.rng_for(1, "eval"))
        base = scenario.utility(state, gainnet.make_expert("wmmse", scenario).solve(state))
        for starts in (int(x) for x in args.starts.split(",")):
            expert = gainnet.make_expert("wmmse-restarts", scenario, restarts=starts)
            best = np.empty(instances)
            begin = time.perf_counter()
            for lo in range(0, instances, CHUNK):  # memory: CHUNK * starts * K^2 floats
                part = state.take(slice(lo, lo + CHUNK))
                best[lo : lo + CHUNK] = scenario.utility(part, expert.solve(part))
            seconds = time.perf_counter() - begin
            rows.append(
                {
                    "users": k,
                    "starts": starts,
                    "ratio_to_wmmse": float(best.mean() / base.mean()),
                    "instances_improved_pct": float(100 * np.mean(best > base * (1 + 1e-9))),
                    "seconds_per_1000": seconds * 1000 / instances,
                }
            )
            print(rows[-1], file=sys.stderr, flush=True)
    save_rows(rows, args.out / "interference_best_known.csv")
    print(f"commit {at}, {machine()}, {instances} instances, 1 BLAS thread\n")
    print("| K | WMMSE starts | mean sum rate / one WMMSE run | instances improved | time |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['users']} | {r['starts']} | {r['ratio_to_wmmse']:.4f} "
            f"| {r['instances_improved_pct']:.1f} % | {r['seconds_per_1000']:.1f} s |"
        )


if __name__ == "__main__":
    main()
