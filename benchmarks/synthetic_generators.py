"""Channel generators: what the LoS alignment, the KLT latent and the DDIM steps buy.

    python -m benchmarks.synthetic_generators [--channels 12000] [--train 2000] [--steps 3000]
                                              [--quick] [--out DIR]

On Sionna UMa drops (16 antennas x 64 subcarriers, 16 taps; users at azimuth 0-90 degrees),
diffusion generators are trained on the same ``--train`` channels for ``--steps`` steps with
one design choice changed at a time: the LoS alignment off, the KLT latent at 99.9 % of the
variance instead of 99 %. Each is sampled at the conditions of 1,000 held-out real users and
scored against their real channels (:func:`gainnet.synthetic.fidelity.fidelity_metrics`), beside
a second real set. The default generator is then sampled with 1 to 50 DDIM steps: fidelity and
channels per second (batched, one thread).

Writes ``synthetic_generators.csv`` under ``--out`` (default ``benchmarks/results``) and a
Markdown table on stdout, with the commit and thread count.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import torch

from benchmarks.common import commit, machine, parser
from gainnet import reports
from gainnet.channels import ChannelConfig, generate_dataset
from gainnet.diffusion.schedules import DDIMCoefficients, make_ddim_scheduler
from gainnet.synthetic.conditions import conditions_from_metadata, in_region
from gainnet.synthetic.fidelity import fidelity_metrics
from gainnet.synthetic.generator import ChannelGenerator, GeneratorConfig
from gainnet.synthetic.representation import ChannelShape

VARIANTS = {
    "default (aligned, 99 % latent)": {},
    "no LoS alignment": {"align_to_user": False},
    "99.9 % latent": {"latent_energy": 0.999},
}
COLUMNS = (
    "variant",
    "ddim_steps",
    "channels_per_second",
    "mmd",
    "frechet",
    "angular_spread_ks",
    "delay_spread_ks",
    "pdp_error_db",
    "eigen_spectrum_error_db",
    "correlation_matrix_distance",
    "latent_dim",
    "train_seconds",
)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--channels", type=int, default=12_000)
    p.add_argument("--train", type=int, default=2000)
    p.add_argument("--steps", type=int, default=3000)
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.quick:
        args.channels, args.train, args.steps = 1200, 300, 50
    with tempfile.TemporaryDirectory() as scratch:
        rows = run(args, Path(scratch))
    rows = [{k: v for k, v in row.items() if k in COLUMNS} for row in rows]
    reports.write_csv(rows, args.out / "synthetic_generators.csv", COLUMNS)
    print(f"commit {commit()}, {machine()}, torch threads {torch.get_num_threads()}\n")
    print("| " + " | ".join(COLUMNS) + " |\n" + "|---" * len(COLUMNS) + "|")
    for row in rows:
        print("| " + " | ".join(_cell(row.get(c, "")) for c in COLUMNS) + " |")


def _cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def run(args, scratch: Path) -> list[dict]:
    antennas, subcarriers, taps = 16, 64, 16
    config = ChannelConfig(model="uma", num_bs_antennas=antennas, num_subcarriers=subcarriers)
    data = generate_dataset(config, args.channels, scratch / "uma", seed=0)
    c = conditions_from_metadata(data.metadata, 0, 1)
    rows = np.flatnonzero(in_region(data.metadata["position_m"], (0, 90)))
    n_test = min(1000, (len(rows) - args.train) // 2)
    train, test = rows[: args.train], rows[args.train : args.train + n_test]
    second = rows[args.train + n_test : args.train + 2 * n_test]
    spacing = config.subcarrier_spacing_hz

    def score(h):
        return fidelity_metrics(
            data.h[test], h, data.h[train], spacing, taps, np.random.default_rng(0)
        )

    out = [{"variant": "second real set", **score(data.h[second])}]
    shape = ChannelShape(antennas, subcarriers, taps)
    default = None
    for name, change in VARIANTS.items():
        generator = ChannelGenerator(
            GeneratorConfig(
                **({"kind": "diffusion", "steps": args.steps, "latent_energy": 0.99} | change)
            ),
            shape,
        )
        generator.fit(data.h[train], c[train])
        default = default or generator
        made = generator.generate(c[test], np.random.default_rng(1))
        out.append(
            {
                "variant": name,
                "ddim_steps": 10,
                **score(made),
                "latent_dim": generator.latent_dim,
                "train_seconds": generator.training["seconds"],
            }
        )
    speed_conditions = np.resize(c[test], (1024 if args.quick else 8192, c.shape[1]))
    for k in (1, 2, 5, 10, 20, 50):
        default.model.coefficients = DDIMCoefficients.from_scheduler(
            make_ddim_scheduler(default.config.num_train_timesteps), k
        )
        start = time.perf_counter()
        default.generate(speed_conditions, np.random.default_rng(2))
        rate = len(speed_conditions) / (time.perf_counter() - start)
        made = default.generate(c[test], np.random.default_rng(1))
        out.append(
            {
                "variant": "default, DDIM steps",
                "ddim_steps": k,
                "channels_per_second": rate,
                **score(made),
            }
        )
    out += full_size_speed(args.quick)
    return out


def full_size_speed(quick: bool) -> list[dict]:
    """Channels per second at the full case study's size (32 antennas x 256 subcarriers, 32
    taps, a 256-value latent, width 512), noise to frequency response: a generator fitted for
    one step on random channels (the speed does not depend on the weights)."""
    shape = ChannelShape(32, 256, 32)
    rng = np.random.default_rng(3)
    n = 300 if quick else 600
    h = rng.standard_normal((n, 1, 32, 256)) + 1j * rng.standard_normal((n, 1, 32, 256))
    meta = {"position_m": np.column_stack([rng.uniform(20, 200, (n, 2)), np.full(n, -23.5)]),
            "los": rng.integers(0, 2, n), "indoor": rng.integers(0, 2, n)}  # fmt: skip
    c = conditions_from_metadata(meta, 0, 1)
    rows = []
    for k in (5, 10):
        generator = ChannelGenerator(GeneratorConfig(steps=1, num_inference_steps=k), shape)
        generator.fit(h.astype(np.complex64), c)
        many = np.resize(c, (1024 if quick else 8192, c.shape[1]))
        start = time.perf_counter()
        generator.generate(many, rng)
        rows.append({"variant": "speed at 32 x 256 (latent 256)", "ddim_steps": k,
                     "channels_per_second": len(many) / (time.perf_counter() - start),
                     "latent_dim": generator.latent_dim})  # fmt: skip
    return rows


if __name__ == "__main__":
    main()
