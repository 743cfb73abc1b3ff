"""Exact incentive experts: how fast they solve one instance, by size.

    python benchmarks/incentive_experts.py

Stackelberg split pricing (``equilibrium``) for N = 2..200 devices and contract design
(``contract-optimum``) for K = 2..20 types: median seconds to solve ONE instance (batch 1) over
repeated calls, and per instance in a batch of 1,000. Writes
``benchmarks/results/incentive_experts.csv`` and prints it with the commit and thread count.
"""

from __future__ import annotations

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


def time_expert(scenario, batch: int, repeats: int) -> float:
    expert = scenario.default_expert()
    state = scenario.sample(batch, gainnet.rng_for(0, "eval"))
    expert.solve(state)  # warm
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        expert.solve(state)
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds)) / batch


def main() -> None:
    rows = []
    cases = [("stackelberg-split", "num_devices", n) for n in (2, 10, 50, 200)]
    cases += [("contract", "num_types", k) for k in (2, 5, 10, 20)]
    for name, key, size in cases:
        scenario = gainnet.make_scenario(name, **{key: size})
        rows.append(
            {
                "scenario": name,
                "size": f"{key}={size}",
                "expert": scenario.default_expert().name,
                "seconds_single": time_expert(scenario, 1, 50),
                "seconds_per_instance_batch_1000": time_expert(scenario, 1000, 5),
            }
        )
    path = HERE / "results" / "incentive_experts.csv"
    save_rows(rows, path)
    print(f"commit {commit()}, {machine()}, NumPy BLAS threads 1")
    print("| scenario | size | expert | one instance | per instance, batch 1000 |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['scenario']} | {r['size']} | {r['expert']} | "
            f"{1e3 * r['seconds_single']:.3f} ms | "
            f"{1e6 * r['seconds_per_instance_batch_1000']:.1f} us |"
        )


if __name__ == "__main__":
    main()
