"""Fill a part of the cell no channel was measured in with synthetic channels, and check them.

    python examples/synthetic_channels.py [--quick] [--data DIR]

Generates (Sionna, the ``channels`` extra) UMa drops; users at azimuth 0-90 degrees are the
"measured" part of the cell, 90-120 degrees a region with no measurement. A conditional
diffusion model trained on a small slice of the measured channels (conditioned on the users'
positions, LoS and indoor flags) generates channels for the users of the unmeasured region.
The example prints what a channel modeller checks (against the region's real channels, beside
a second real set) and then trains a CSI feedback codec (transform coding, compression ratio
1/16) three ways, testing each on the region's real channels: on the measured slice, on the
synthetic channels, and on real channels of the region (the ceiling).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from gainnet.channels import ChannelConfig, generate_dataset
from gainnet.synthetic.conditions import conditions_from_metadata, in_region
from gainnet.synthetic.downstream import csi_feedback_nmse_db
from gainnet.synthetic.fidelity import fidelity_metrics
from gainnet.synthetic.generator import ChannelGenerator, GeneratorConfig
from gainnet.synthetic.representation import ChannelShape


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="folder for the dataset (default: temporary)")
    parser.add_argument("--quick", action="store_true", help="a small dataset, a short training")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as scratch:
        run(args, args.data or Path(scratch))


def run(args, data: Path) -> None:
    antennas, subcarriers, taps = (8, 32, 8) if args.quick else (32, 256, 32)
    count, small, steps = (1600, 400, 800) if args.quick else (12_000, 2000, 6000)
    config = ChannelConfig(model="uma", num_bs_antennas=antennas, num_subcarriers=subcarriers)
    dataset = generate_dataset(config, count, data / f"uma-{antennas}x{subcarriers}-{count}")
    conditions = conditions_from_metadata(dataset.metadata, scenario=0, num_scenarios=1)
    measured = np.flatnonzero(in_region(dataset.metadata["position_m"], (0, 90)))[:small]
    region = np.flatnonzero(in_region(dataset.metadata["position_m"], (90, 120)))
    test, region_real = region[: len(region) // 2], region[len(region) // 2 :]

    generator = ChannelGenerator(
        GeneratorConfig(kind="diffusion", hidden=128 if args.quick else 512, steps=steps,
                        latent_energy=0.99),
        ChannelShape(antennas, subcarriers, taps),
    )  # fmt: skip
    generator.fit(dataset.h[measured], conditions[measured])
    rng = np.random.default_rng(0)
    synthetic = generator.generate(conditions[region_real], rng)  # positions only, no channels
    print(f"{len(measured)} measured channels, {len(synthetic)} generated for the region")

    spacing = config.subcarrier_spacing_hz
    for name, h in (("synthetic", synthetic), ("second real set", dataset.h[region_real])):
        found = fidelity_metrics(dataset.h[test], h, dataset.h[measured], spacing, taps,
                                 np.random.default_rng(1))  # fmt: skip
        print(f"{name}: MMD {found['mmd']:.4f}, angular-spread KS "
              f"{found['angular_spread_ks']:.3f}, delay-spread KS "
              f"{found['delay_spread_ks']:.3f}, correlation matrix distance "
              f"{found['correlation_matrix_distance']:.3f}")  # fmt: skip

    print("CSI feedback at compression ratio 1/16, tested on the region's real channels:")
    for name, h in (("measured slice", dataset.h[measured]), ("synthetic", synthetic),
                    ("real channels of the region", dataset.h[region_real])):  # fmt: skip
        found = csi_feedback_nmse_db(h, dataset.h[test], taps, "1/16", steps=50, batch_size=100,
                                     seed=0)  # fmt: skip
        print(f"  trained on {name}: transform coding NMSE "
              f"{found['transform_coding_nmse_db']:.2f} dB")  # fmt: skip


if __name__ == "__main__":
    main()
