"""Train a diffusion power allocator across edge sites that never share their data.

    python examples/federated_training.py [--quick] [--engine flower-simulation]

Six (quick) or ten edge sites each hold water-filling labels of their own channel statistics
(non-IID) behind their own fading link. The example trains ``gdm`` three ways and prints
each one's ratio to the expert on the same held-out instances: centralised on the pooled data
(what sharing the raw data would give), FedAvg with random client selection, and FedAvg with
gainnet's wireless-aware selection (with the emulated time each took to reach the target).
Then a third of the sites fabricate their labels: plain FedAvg against FedAvg with gainnet's
label audit, which spot-checks every site's claimed labels with the exact expert.
With ``--reward`` it then trains ``gdm-reward`` the same way from the sum rate alone (the
scenario's differentiable utility on the sites' states; no label is used), federated and
centralised.
"""

from __future__ import annotations

import argparse

import torch

from gainnet.federated import ENGINES, run_federation
from gainnet.federated.centralised import run_centralised
from gainnet.reproduce.federated import case_config, defended, without_budgets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 sites, 10 short rounds")
    parser.add_argument("--engine", default="in-process", choices=ENGINES)
    parser.add_argument("--reward", action="store_true", help="also gdm-reward, from utility")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = case_config(quick=args.quick, seed=0)
    print(f"{len(config.sites)} sites, {config.rounds} rounds, engine {args.engine}")
    for site in config.sites:
        print(
            f"  {site.name:18s} mean SNR {site.mean_snr_db:5.1f} dB, "
            f"{site.compute_steps_per_s:5.0f} steps/s, {site.num_labels} labels"
        )
    central = run_centralised(config)
    print(f"centralised (pooled data):  ratio {central['ratio']:.4f}")
    for policy in ("random", "gainnet"):
        run = run_federation(config.replace(selection=policy), engine=args.engine)
        reached = run["seconds_to_target"]
        when = "never" if reached is None else f"after {reached:.1f} emulated s"
        print(
            f"FedAvg, {policy:7s} selection: ratio {run['final_ratio']:.4f}, "
            f"target {config.target_ratio} reached {when}, {run['bytes'] / 1e6:.1f} MB"
        )
    for defence in ("none", "audit"):
        run = run_federation(defended(config, defence, 0.3, "wrong-labels"), engine=args.engine)
        print(
            f"30 % fabricating sites, defence {defence:5s}: ratio {run['final_ratio']:.4f}, "
            f"excluded sites {run['excluded_sites']} (fabricating: {run['malicious_sites']})"
        )
    if args.reward:
        reward = without_budgets(config).replace(
            solver="gdm-reward", solver_params={"gradient": "utility"}, learning_rate=1e-3
        )
        central = run_centralised(reward)
        run = run_federation(reward, engine=args.engine)
        print(
            f"gdm-reward (no labels): centralised ratio {central['ratio']:.4f}, "
            f"FedAvg ratio {run['final_ratio']:.4f}"
        )


if __name__ == "__main__":
    main()
