"""Exact incentive experts: how fast they solve one instance, by size.

    python -m benchmarks.incentive_experts

Stackelberg split pricing (``equilibrium``) for N = 2..200 devices and contract design
(``contract-optimum``) for K = 2..20 types: median seconds to solve ONE instance (batch 1) over
repeated calls, and per instance in a batch of 1,000. Writes
``benchmarks/results/incentive_experts.csv`` and prints it with the commit and thread count.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

import gainnet
from benchmarks.common import commit, machine, parser, save_rows


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
    args = parser(__doc__).parse_args()
    rows = []
    devices, types = ((2,), (2,)) if args.quick else ((2, 10, 50, 200), (2, 5, 10, 20))
    repeats_single, repeats_batch = (3, 1) if args.quick else (50, 5)
    cases = [("stackelberg-split", "num_devices", n) for n in devices]
    cases += [("contract", "num_types", k) for k in types]
    for name, key, size in cases:
        scenario = gainnet.make_scenario(name, **{key: size})
        rows.append(
            {
                "scenario": name,
                "size": f"{key}={size}",
                "expert": scenario.default_expert().name,
                "seconds_single": time_expert(scenario, 1, repeats_single),
                "seconds_per_instance_batch_1000": time_expert(scenario, 1000, repeats_batch),
            }
        )
    save_rows(rows, args.out / "incentive_experts.csv")
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
