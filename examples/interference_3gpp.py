"""Power control on 3GPP UMi network drops: a diffusion model against WMMSE.

    python examples/interference_3gpp.py [--quick] [--cells 4] [--data DIR]

Generates (Sionna, the ``channels`` extra) UMi network drops: ``cells`` sites 200 m apart, one
user per site, every user-to-site link with 38.901 path loss, LoS / NLoS, shadow fading and
fading; one dataset to train on and another, from another seed, to test on. Trains ``gdm`` on the
best of 10 WMMSE starts of training drops and compares it, on the test drops, with WMMSE from
full power, the best of 10 WMMSE starts and every transmitter at full power (23 dBm, 10 MHz of
noise with a 9 dB noise figure). ``--data`` keeps the datasets for another run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import gainnet
from gainnet.channels import ChannelConfig, generate_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=4, help="sites (transmitter-receiver pairs)")
    parser.add_argument("--data", type=Path, help="folder for the datasets (default: temporary)")
    parser.add_argument("--quick", action="store_true", help="small datasets, a short training")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as scratch:
        run(args, args.data or Path(scratch))


def run(args, data: Path) -> None:
    config = ChannelConfig(model="umi", num_cells=args.cells, num_bs_antennas=1,
                           num_subcarriers=16 if args.quick else 64)  # fmt: skip
    sizes = (400, 300) if args.quick else (5000, 1000)
    folders = {}
    for split, count, seed in (("train", sizes[0], 0), ("test", sizes[1], 1)):
        folders[split] = data / f"umi-{args.cells}-cells-{split}-{count}"
        generate_dataset(config, count, folders[split], seed=seed)

    def scenario(split):  # the geometric preset's powers: 23 dBm, -95 dBm of noise
        return gainnet.make_scenario("interference", preset="geometric-10", num_users=args.cells,
                                     channel_dataset=str(folders[split]))  # fmt: skip

    train, test = scenario("train"), scenario("test")
    restarts = gainnet.make_expert("wmmse-restarts", train)
    solver = gainnet.make_solver(
        "gdm", train, seed=0, hidden=64 if args.quick else 256,
        num_labels=2_000 if args.quick else 20_000, num_samples=16,
    )  # fmt: skip
    solver.fit(gainnet.Budget(steps=600 if args.quick else 20_000), expert=restarts)

    from gainnet.scenarios.interference import InterferenceState

    state = InterferenceState(gains=np.array(test.params.dataset_gains()))  # every test drop
    deciders = {
        "WMMSE": test.default_expert().solve,
        "best of 10 WMMSE starts": gainnet.make_expert("wmmse-restarts", test).solve,
        "full power": test.max_power,
        "gdm, best of 16": solver.decide,
    }
    wmmse = None
    print(f"{len(state)} UMi test drops, {args.cells} sites")
    for name, decide in deciders.items():
        start = time.perf_counter()
        decision = decide(state)
        ms = 1000 * (time.perf_counter() - start) / len(state)
        rate = test.utility(state, decision)
        wmmse = rate if wmmse is None else wmmse
        feasible = test.is_feasible(state, decision).mean()
        print(f"{name}: {rate.mean():.3f} bit/s/Hz, ratio {rate.mean() / wmmse.mean():.4f} to "
              f"WMMSE, 5th percentile {np.percentile(rate / wmmse, 5):.4f}, feasible "
              f"{feasible:.3f}, {ms:.3f} ms per decision")  # fmt: skip


if __name__ == "__main__":
    main()
