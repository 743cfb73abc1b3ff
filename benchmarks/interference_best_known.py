"""How far above one WMMSE run the best-known sum rate lies: WMMSE with many random starts.

    python benchmarks/interference_best_known.py [--users 10] [--starts 10,100,1000,3000]

On the same 1,000 held-out instances as ``interference_power_control.py`` (Gaussian channel,
``rng_for(1, "eval")``): the mean sum rate of the best of R WMMSE starts (full power and R - 1
random ones, 100 iterations each) over that of one WMMSE run from full power. Where the ratio
stops growing with R, no solver that only picks powers can do much better on average: it bounds
what a target of the form "x times WMMSE" can ask for. Writes
``benchmarks/results/interference_best_known.csv`` and prints a Markdown table with the commit.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

import gainnet

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import commit, machine, save_rows

HERE = Path(__file__).resolve().parent
INSTANCES, CHUNK = 1000, 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="10")
    parser.add_argument("--starts", default="10,100,1000,3000")
    args = parser.parse_args()
    at = commit()
    rows = []
    for k in (int(x) for x in args.users.split(",")):
        scenario = gainnet.make_scenario("interference", num_users=k)
        state = scenario.sample(INSTANCES, gainnet.rng_for(1, "eval"))
        base = scenario.utility(state, gainnet.make_expert("wmmse", scenario).solve(state))
        for starts in (int(x) for x in args.starts.split(",")):
            expert = gainnet.make_expert("wmmse-restarts", scenario, restarts=starts)
            best = np.empty(INSTANCES)
            begin = time.perf_counter()
            for lo in range(0, INSTANCES, CHUNK):  # memory: CHUNK * starts * K^2 floats
                part = state.take(slice(lo, lo + CHUNK))
                best[lo : lo + CHUNK] = scenario.utility(part, expert.solve(part))
            seconds = time.perf_counter() - begin
            rows.append(
                {
                    "users": k,
                    "starts": starts,
                    "ratio_to_wmmse": float(best.mean() / base.mean()),
                    "instances_improved_pct": float(100 * np.mean(best > base * (1 + 1e-9))),
                    "seconds_per_1000": seconds * 1000 / INSTANCES,
                }
            )
            print(rows[-1], file=sys.stderr, flush=True)
    path = HERE / "results" / "interference_best_known.csv"
    save_rows(rows, path)
    print(f"commit {at}, {machine()}, {INSTANCES} instances, 1 BLAS thread\n")
    print("| K | WMMSE starts | mean sum rate / one WMMSE run | instances improved | time |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['users']} | {r['starts']} | {r['ratio_to_wmmse']:.4f} "
            f"| {r['instances_improved_pct']:.1f} % | {r['seconds_per_1000']:.1f} s |"
        )


if __name__ == "__main__":
    main()
