"""Train the two diffusion solvers on GDMOPT's power-allocation problem and compare them with
water-filling (the exact optimum) and equal power, on the same held-out instances.

    python examples/power_allocation_quickstart.py [--quick] [--seconds 20]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import gainnet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="training seconds per solver")
    parser.add_argument("--quick", action="store_true", help="a few hundred steps only")
    args = parser.parse_args()
    torch.set_num_threads(1)
    budget = gainnet.Budget(steps=300) if args.quick else gainnet.Budget(seconds=args.seconds)

    scenario = gainnet.make_scenario("power-allocation", preset="gdmopt")
    expert = scenario.default_expert()  # water-filling, exact

    results = []
    for name in ("gdm", "gdm-reward", "uniform"):
        solver = gainnet.make_solver(name, scenario, seed=0)
        # only the imitation solver is given the expert; gdm-reward learns from the rate alone
        solver.fit(budget, expert=expert if solver.uses_expert else None)
        results.append(gainnet.evaluate(solver, scenario, instances=1000, seed=0))
        if name == "gdm":
            state = scenario.sample(1, gainnet.rng_for(0, "eval"))
            np.set_printoptions(precision=3, suppress=True)
            print("gains           ", state.gains[0])
            print("water-filling  W", expert.solve(state)[0])
            print("gdm            W", solver.decide(state)[0])

    for result in results:
        print(result)


if __name__ == "__main__":
    main()
