"""Power control on an interference channel: a diffusion model against WMMSE.

    python examples/interference_power_control.py [--quick] [--users 10]

Trains ``gdm`` on the best WMMSE local optima of each training instance, then decides held-out
instances with best-of-N sampling and compares the sum rate with WMMSE from full power and with
the best of 10 WMMSE starts, on the same instances.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

import gainnet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10, help="transmitter-receiver pairs K")
    parser.add_argument("--quick", action="store_true", help="a small model, a short training")
    args = parser.parse_args()
    torch.set_num_threads(1)
    users = 5 if args.quick else args.users
    scenario = gainnet.make_scenario("interference", num_users=users)
    restarts = gainnet.make_expert("wmmse-restarts", scenario)
    solver = gainnet.make_solver(
        "gdm", scenario, seed=0, hidden=64 if args.quick else 256,
        num_labels=2_000 if args.quick else 20_000, label_candidates=4,
    )  # fmt: skip
    solver.fit(gainnet.Budget(steps=600 if args.quick else 20_000), expert=restarts)

    state = scenario.sample(1000, gainnet.rng_for(1, "eval"))
    wmmse = scenario.utility(state, scenario.default_expert().solve(state)).mean()
    best = scenario.utility(state, restarts.solve(state)).mean()
    print(f"K = {users}: WMMSE {wmmse:.3f} bit/s/Hz, best of 10 WMMSE starts {best:.3f}")
    for n in (1, 16):
        solver.config = dataclasses.replace(solver.config, num_samples=n)
        start = time.perf_counter()
        rate = scenario.utility(state, solver.decide(state)).mean()
        ms = 1000 * (time.perf_counter() - start)
        print(f"gdm, best of {n:>2}: ratio {rate / wmmse:.4f} to WMMSE, "
              f"{rate / best:.4f} to restarts ({ms:.0f} ms for 1,000 decisions)")  # fmt: skip


if __name__ == "__main__":
    main()
