"""Split a pretrained transformer between this process (the device) and an edge server process.

    python examples/split_inference.py [--quick] [--bandwidth-mbps 10] [--rtt-ms 20]

Starts `gainnet split serve` in a child process, profiles MiniLM on both sides, lets the latency
model pick the best split point for the link, then classifies a few texts zero-shot with the
device running the first k layers and the server the rest, and shows the same for the CLIP
ViT-B/32-shaped image encoder, where splitting pays because the raw input is large.
"""

from __future__ import annotations

import argparse

import torch

from gainnet.split.device import ServerConnection, SplitDevice
from gainnet.split.encoder import RAW_SPLIT, split_label
from gainnet.split.link import Link
from gainnet.split.models import make_encoder, sample_inputs
from gainnet.split.profile import profile_split
from gainnet.split.spawn import spawned_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bandwidth-mbps", type=float, default=10.0)
    parser.add_argument("--rtt-ms", type=float, default=20.0)
    parser.add_argument("--quick", action="store_true", help="fewer profiling repeats")
    args = parser.parse_args()
    torch.set_num_threads(1)
    link = Link(args.bandwidth_mbps, args.rtt_ms)
    repeats = 2 if args.quick else 5

    with spawned_server(models=("minilm", "vit")) as address:
        for model, batch in (("minilm", 8), ("vit", 1)):
            encoder = make_encoder(model)
            inputs, _, _ = sample_inputs(encoder, batch)
            with ServerConnection(address) as conn:
                profile = profile_split(encoder, encoder.raw_input(inputs), conn, repeats)
            split, codec, predicted_s = profile.best_split(link)
            with ServerConnection(address, link=link) as conn:
                device = SplitDevice(encoder, conn)
                best = device.infer(inputs, split, codec)
                raw = device.infer(inputs, RAW_SPLIT, "fp32")
            print(
                f"\n{model}, batch {batch}, {link.bandwidth_mbps:g} Mbit/s, RTT {link.rtt_ms:g} ms"
            )
            print(
                f"  model's best split: k={split_label(split)} with {codec}, predicted "
                f"{1000 * predicted_s:.0f} ms, measured {1000 * best.total_s:.0f} ms "
                f"({best.uplink_bytes / 1024:.1f} KiB up)"
            )
            print(
                f"  raw input to the server: {1000 * raw.total_s:.0f} ms "
                f"({raw.uplink_bytes / 1024:.1f} KiB up); latency ratio raw / best "
                f"{raw.total_s / best.total_s:.2f}"
            )
            if best.predicted:
                for text, label in list(zip(inputs, best.predicted, strict=True))[:4]:
                    print(f"  {label:>10}: {text}")


if __name__ == "__main__":
    main()
