"""A learned layer price sets every device's split point, and the split inference runs for real.

    python examples/closed_loop_pricing.py [--quick] [--out runs/closed-loop]

The same as ``gainnet reproduce closed-loop``: profile the ViT-B/32-shaped encoder on a live
edge server, learn the Stackelberg price with ``gdm``, let each device best-respond with its
number of local layers, run every device's split inference at once, and compare the measured
server load and latency with the exact equilibrium price and with all-server inference.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from gainnet.reproduce.closed_loop import run_closed_loop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 devices, a short training")
    parser.add_argument("--out", type=Path, default=None, help="output folder")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = args.out or Path("runs") / ("closed-loop-quick" if args.quick else "closed-loop")
    results = run_closed_loop(out, quick=args.quick)
    learned, exact = (results["pricings"][k] for k in ("learned (gdm)", "equilibrium"))
    print((out / "report.md").read_text())
    ratio = learned["server_utility_mean"] / exact["server_utility_mean"]
    print(
        f"learned price: server utility ratio {ratio:.4f} to the equilibrium; server load "
        f"{learned['server_load_vs_all_server']:.2f}x and mean latency "
        f"{learned['latency_vs_all_server']:.2f}x those of all-server inference"
    )


if __name__ == "__main__":
    main()
