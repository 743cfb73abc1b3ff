"""``gainnet synthetic``: train a generative channel model on datasets, generate a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gainnet.cli_common import ThreadsOption, err, new_app, out
from gainnet.errors import GainnetError

synthetic_app = new_app(help="Generative channel models (diffusion, WGAN-GP) and their datasets.")


def parse_region(text: str | None) -> tuple[float, float] | None:
    """``"0,90"`` -> ``(0.0, 90.0)`` (azimuth degrees, low < high); ``None`` stays ``None``."""
    if text is None:
        return None
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise GainnetError(f"--region must be 'low,high' in degrees, got {text!r}") from None
    if not (-180 <= low < high <= 180):
        raise GainnetError(f"--region must satisfy -180 <= low < high <= 180, got {text!r}")
    return low, high


def _rows(dataset, region, limit: int | None):
    """The indices of a drop dataset's channels in ``region`` (all by default), at most
    ``limit``."""
    import numpy as np

    from gainnet.synthetic.conditions import in_region

    if dataset.config.family != "drop" or dataset.config.num_cells > 1:
        raise GainnetError(
            f"a generator needs single-link drops (umi, uma, inh), not {dataset.config.model}"
            + (" network drops" if dataset.config.num_cells > 1 else "")
        )
    if dataset.config.num_ut_antennas != 1:
        raise GainnetError("a generator models single-antenna users: num_ut_antennas must be 1")
    rows = np.arange(len(dataset))
    if region is not None:
        rows = rows[in_region(dataset.metadata["position_m"], region)]
    if not len(rows):
        raise GainnetError(f"no channel of {dataset.config.model} lies in the region {region}")
    return rows[:limit]


@synthetic_app.command()
def train(
    datasets: Annotated[
        list[Path], typer.Option("--dataset", help="a drop dataset (repeat: one per scenario)")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="generator folder to write")],
    kind: Annotated[str, typer.Option(help="diffusion or gan")] = "diffusion",
    channels: Annotated[int, typer.Option(min=2, help="real channels per dataset")] = 2000,
    region: Annotated[str | None, typer.Option(help="azimuth range 'low,high' (deg)")] = None,
    taps: Annotated[int, typer.Option(min=1, max=256, help="delay taps modelled")] = 16,
    steps: Annotated[int | None, typer.Option(min=1, help="optimiser steps")] = None,
    hidden: Annotated[int, typer.Option(min=8, max=4096)] = 512,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    threads: ThreadsOption = 1,
) -> None:
    """Train a conditional generator on the first ``--channels`` channels (in ``--region``) of
    each dataset; the scenario is the dataset's place in the ``--dataset`` list."""
    import numpy as np
    import torch

    from gainnet.channels import load_dataset
    from gainnet.errors import UnknownNameError
    from gainnet.synthetic.conditions import conditions_from_metadata
    from gainnet.synthetic.generator import KINDS, ChannelGenerator, GeneratorConfig
    from gainnet.synthetic.representation import ChannelShape

    torch.set_num_threads(threads)
    if kind not in KINDS:
        raise UnknownNameError("generator", kind, list(KINDS))
    loaded = [load_dataset(d) for d in datasets]
    shapes = {d.config.shape for d in loaded}
    if len(shapes) != 1:
        raise GainnetError(f"the datasets differ in their channel shape: {sorted(shapes)}")
    h, c = [], []
    for s, dataset in enumerate(loaded):
        rows = _rows(dataset, parse_region(region), channels)
        h.append(dataset.h[rows])
        c.append(conditions_from_metadata(dataset.metadata, s, len(loaded))[rows])
    _, antennas, subcarriers = shapes.pop()
    if taps > subcarriers:
        raise GainnetError(f"--taps must be <= {subcarriers} subcarriers")
    steps = steps or (6000 if kind == "diffusion" else 600)
    sectors = all(d.config.model in ("umi", "uma") for d in loaded)  # the LoS alignment's frame
    config = GeneratorConfig(
        align_to_user=sectors,
        kind=kind,
        hidden=hidden,
        steps=steps,
        latent_energy=0.99,
        learning_rate=1e-3 if kind == "diffusion" else 2e-4,
    )
    generator = ChannelGenerator(
        config, ChannelShape(antennas, subcarriers, taps), len(loaded), seed
    )
    with Progress(
        TextColumn(f"[bold]{kind}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[loss]}"),
        TimeElapsedColumn(),
        console=err,
    ) as progress:
        task = progress.add_task("train", total=steps, loss="")
        generator.fit(
            np.concatenate(h),
            np.concatenate(c),
            progress=lambda step, loss: progress.update(
                task, completed=step, loss=f"loss {loss:.4f}"
            ),
        )
    generator.training |= {
        "datasets": [str(d) for d in datasets],
        "region_deg": region,
        "sha256": [d.digest for d in loaded],
    }
    generator.save(out_dir)
    out.print(escape(f"{kind}: trained on {sum(len(x) for x in h)} channels, saved to {out_dir}"))


@synthetic_app.command()
def generate(
    generator_dir: Annotated[Path, typer.Argument(help="a generator folder (`synthetic train`)")],
    conditions: Annotated[
        Path, typer.Option("--conditions", help="a drop dataset whose users' conditions to use")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="dataset folder to write (empty)")],
    scenario: Annotated[int, typer.Option(min=0, help="scenario index of the generator")] = 0,
    num: Annotated[int | None, typer.Option(min=1, help="channels (default: all users)")] = None,
    region: Annotated[str | None, typer.Option(help="azimuth range 'low,high' (deg)")] = None,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    threads: ThreadsOption = 1,
) -> None:
    """Generate channels for the users of a dataset (their positions, LoS and indoor flags;
    not their channels) and write them as a dataset in the same format."""
    import numpy as np
    import torch

    from gainnet.channels import load_dataset
    from gainnet.channels.dataset import write_dataset
    from gainnet.core.integrity import MANIFEST_NAME, sha256_hex
    from gainnet.core.seeding import rng_for
    from gainnet.synthetic.conditions import conditions_from_metadata
    from gainnet.synthetic.fidelity import rms_delay_spread_s
    from gainnet.synthetic.generator import ChannelGenerator

    torch.set_num_threads(threads)
    generator = ChannelGenerator.load(generator_dir)
    source = load_dataset(conditions)
    shape = generator.shape
    if source.config.shape != (1, shape.num_bs_antennas, shape.num_subcarriers):
        raise GainnetError(
            f"{conditions} has channels of {source.config.shape}, the generator "
            f"makes (1, {shape.num_bs_antennas}, {shape.num_subcarriers})"
        )
    if scenario >= generator.num_scenarios:
        raise GainnetError(f"--scenario must be < {generator.num_scenarios}")
    rows = _rows(source, parse_region(region), num)
    c = conditions_from_metadata(source.metadata, scenario, generator.num_scenarios)[rows]
    with Progress(TextColumn("[bold]generating"), TimeElapsedColumn(), console=err):
        h = generator.generate(c, rng_for(seed, "synthetic-channels"))
    power = np.mean(np.abs(h) ** 2, axis=(1, 2, 3))
    arrays = {
        "h": h,
        **{k: source.metadata[k][rows] for k in ("position_m", "los", "indoor")},
        "delay_spread_s": rms_delay_spread_s(
            h, source.config.subcarrier_spacing_hz, shape.num_taps
        ),
        "path_gain_db": 10 * np.log10(np.maximum(power, 1e-30)),
    }
    made_by = {
        "gainnet-synthetic": generator.config.kind,
        "scenario": scenario,
        "generator_sha256": sha256_hex((generator_dir / MANIFEST_NAME).read_bytes()),
        "conditions_from": source.digest,
    }
    dataset = write_dataset(out_dir, source.config, arrays, made_by, seed=seed)
    out.print(escape(f"{len(dataset)} synthetic channels {list(h.shape[1:])} in {out_dir}"))
    out.print(f"sha256 of SHA256SUMS: {dataset.digest}")
