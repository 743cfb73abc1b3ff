"""Federated CSI feedback: a CsiNet codec trained across sites with different 3GPP channels.

    python -m benchmarks.federated_csi [--channels 2500] [--rounds 30] [--quick] [--out DIR]

Sionna UMi, UMa and InH drops (16 antennas x 64 subcarriers, 16 taps; the ``channels`` extra),
two sites per model, each holding 1,000 reports of its own dataset (non-IID). A ``csinet``
codec at compression ratio 1/16 (32 values of 4 bits per report) is trained centralised on the
pooled reports, with FedAvg and FedProx (random 3 of 6 sites per round, 50 local steps), and
with FedAvg when 2 of the 6 sites train on made-up reports, with and without the coordinate
median. Every run starts from the federated PCA start and is scored on the same held-out
reports of every site against transform coding fitted on the pooled training reports at the
same bits (ratio = its NMSE over the codec's; NMSE in dB beside).

Writes ``federated_csi.csv`` under ``--out`` (default ``benchmarks/results``) and a Markdown
table on stdout, with the commit and thread count.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

from benchmarks.common import commit, machine, parser
from gainnet import reports
from gainnet.channels import ChannelConfig, generate_dataset
from gainnet.federated import federation_from_dict, run_federation
from gainnet.federated.centralised import run_centralised

MODELS = ("umi", "uma", "inh")
COLUMNS = ("training", "ratio", "p05_ratio", "nmse_db", "expert_nmse_db", "rounds", "commit")


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--channels", type=int, default=2500)
    p.add_argument("--rounds", type=int, default=30)
    args = p.parse_args()
    antennas, subcarriers, taps, labels, steps = 16, 64, 16, 1000, 50
    if args.quick:
        args.channels, args.rounds = 300, 2
        antennas, subcarriers, taps, labels, steps = 8, 16, 8, 150, 5
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as scratch:
        folders = {}
        for model in MODELS:
            config = ChannelConfig(
                model=model, num_bs_antennas=antennas, num_subcarriers=subcarriers
            )
            folders[model] = Path(scratch) / model
            generate_dataset(config, args.channels, folders[model], seed=7)
        sites = [
            {"name": f"site{i}-{m}", "params": {"channel_dataset": str(folders[m])},
             "num_labels": labels, "mean_snr_db": 5.0 + 3.0 * i}
            for i, m in enumerate(MODELS * 2)
        ]  # fmt: skip
        latent = 2 * taps * antennas // 16
        base = federation_from_dict(
            {
                "task": "csi-codec",
                "sites": sites,
                "solver_params": {"taps": taps, "antennas": antennas, "latent": latent,
                                  "bits_per_value": 4, "batch_size": 64},
                "rounds": args.rounds,
                "local_steps": steps,
                "clients_per_round": 3,
                "eval_instances_per_site": 200 if not args.quick else 50,
                "learning_rate": 1e-3,
                "selection": "random",
            }
        )  # fmt: skip
        runs = {"centralised (pooled reports)": run_centralised(base)}
        runs["fedavg"] = run_federation(base)
        runs["fedprox"] = run_federation(base.replace(algorithm="fedprox"))
        attacked = base.replace(malicious_fraction=1 / 3, attack="made-up-states")
        runs["fedavg, 2 of 6 sites made-up reports"] = run_federation(attacked)
        runs["median, 2 of 6 sites made-up reports"] = run_federation(
            attacked.replace(aggregator="median")
        )
        rows = []
        for name, run in runs.items():
            evaluation = run.get("final_evaluation", run)  # centralised: its evaluation itself
            rows.append(
                {
                    "training": name,
                    "ratio": evaluation["ratio"],
                    "p05_ratio": evaluation["p05_ratio"],
                    "nmse_db": evaluation["nmse_db"],
                    "expert_nmse_db": evaluation["expert_nmse_db"],
                    "rounds": args.rounds,
                    "commit": commit(),
                }
            )
    args.out.mkdir(parents=True, exist_ok=True)
    reports.write_csv(rows, args.out / "federated_csi.csv", COLUMNS)
    print(f"commit {commit()}, {machine()}, 1 torch thread\n")
    print("| training | ratio to transform coding | p05 | NMSE dB | transform coding NMSE dB |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['training']} | {row['ratio']:.3f} | {row['p05_ratio']:.3f} | "
            f"{row['nmse_db']:.2f} | {row['expert_nmse_db']:.2f} |"
        )


if __name__ == "__main__":
    main()
