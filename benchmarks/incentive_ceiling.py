"""The ceiling of incomplete-information pricing: the Bayes-optimal price against the optimum.

    python -m benchmarks.incentive_ceiling [--samples 64,256,1024] [--seeds 0,1,2]

On the held-out populations of ``gainnet reproduce edge-incentive`` (seed 002 preset, 1,000 per
seed, ``rng_for(seed, "eval")``): the mean server utility of ``bayes-price`` with each number
of prior draws, and of certainty equivalence (the exact equilibrium price for ``beta_n`` = the
observed mean estimate), over that of the complete-information equilibrium. Writes
``benchmarks/results/incentive_ceiling.csv`` and prints a Markdown table with the commit.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

import gainnet
from benchmarks.common import commit, machine, parser, save_rows


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--samples", default="64,256,1024")
    options.add_argument("--seeds", default="0,1,2")
    args = options.parse_args()
    if args.quick:
        args.samples, args.seeds = "16", "0"
    instances = 100 if args.quick else 1000
    at = commit()
    scenario = gainnet.make_scenario(
        "stackelberg-split", preset="seed002", information="incomplete"
    )
    exact = scenario.default_expert()
    rows = []
    for seed in (int(x) for x in args.seeds.split(",")):
        state = scenario.sample(instances, gainnet.rng_for(seed, "eval"))
        optimum = scenario.utility(state, exact.solve(state)).mean()
        plug_in = dataclasses.replace(
            state, beta=np.repeat(state.beta_estimate[:, None], state.beta.shape[1], 1)
        )
        rules = [("certainty equivalence", None, exact, plug_in)]
        for m in (int(x) for x in args.samples.split(",")):
            expert = gainnet.make_expert("bayes-price", scenario, samples=m)
            rules.append(("bayes-price", m, expert, state))
        for name, m, expert, seen in rules:
            begin = time.perf_counter()
            price = expert.solve(seen)
            seconds = time.perf_counter() - begin
            ratio = float(scenario.utility(state, price).mean() / optimum)
            rows.append({"rule": name, "samples": m, "seed": seed, "ratio": ratio, "s": seconds})
            print(rows[-1], file=sys.stderr, flush=True)
    save_rows(rows, args.out / "incentive_ceiling.csv")
    print(f"commit {at}, {machine()}, {instances:,} populations per seed, 1 BLAS thread\n")
    print("| rule | prior draws | ratio to the complete-information optimum (per seed) | mean |")
    print("|---|---|---|---|")
    for key in dict.fromkeys((r["rule"], r["samples"]) for r in rows):
        mine = [r for r in rows if (r["rule"], r["samples"]) == key]
        per_seed = " / ".join(f"{r['ratio']:.4f}" for r in mine)
        mean = np.mean([r["ratio"] for r in mine])
        print(f"| {key[0]} | {key[1] or ''} | {per_seed} | {mean:.4f} |")


if __name__ == "__main__":
    main()
