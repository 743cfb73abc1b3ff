"""ISCC orchestration: a diffusion policy against the exact slot optimum, and the matching of
GAI requests to edge nodes by HiGHS beside the greedy rule (alone and with the local search),
on the same held-out instances. The whole case study: ``gainnet reproduce iscc --quick``.

    python examples/iscc_orchestration.py [--quick] [--seconds 30]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import gainnet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="training seconds")
    parser.add_argument("--quick", action="store_true", help="a few hundred steps only")
    args = parser.parse_args()
    torch.set_num_threads(1)
    budget = gainnet.Budget(steps=300) if args.quick else gainnet.Budget(seconds=args.seconds)

    # 1. one edge node, one slot: sensing, uplink, compute and generation time per user
    slot = gainnet.make_scenario("iscc-slot", preset="edge-gpu")
    gdm = gainnet.make_solver("gdm", slot, seed=0, num_samples=16)
    gdm.fit(budget, expert=slot.default_expert())  # iscc-kkt, exact
    for name, solver in (("gdm", gdm), ("uniform", gainnet.make_solver("uniform", slot))):
        print(name, gainnet.evaluate(solver, slot, instances=300, seed=0))
    state = slot.sample(1, gainnet.rng_for(0, "eval"))
    np.set_printoptions(precision=4, suppress=False)
    print(
        "exact [sensing s, Hz, FLOP/s, generation s] per user\n",
        slot.default_expert().solve(state)[0],
    )

    # 2. requests to (node, quality level) under pooled bandwidth, compute and memory
    matching = gainnet.make_scenario("iscc-matching")
    requests = matching.sample(3 if args.quick else 20, gainnet.rng_for(0, "eval"))
    milp = matching.default_expert()
    optimum = matching.utility(requests, milp.solve(requests))
    greedy = matching.greedy(requests)
    refined = matching.refine(requests, greedy, 2)  # local search: never lowers the value
    proven = sum(result.optimal for result in milp.last)
    seconds = np.mean([result.seconds for result in milp.last])
    for name, decision in (("greedy", greedy), ("greedy + local search", refined)):
        ratio = np.mean(matching.utility(requests, decision) / optimum)
        print(f"{name} / MILP value ratio {ratio:.4f}")
    print(f"MILP proven optimal on {proven} of {len(requests)}, {seconds:.3f} s per instance")


if __name__ == "__main__":
    main()
