"""``gainnet channels``: generate 3GPP channel datasets with Sionna and inspect them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gainnet.cli_common import ThreadsOption, err, new_app, out, print_json
from gainnet.errors import GainnetError

channels_app = new_app(help="3GPP TR 38.901 channel datasets (CDL, TDL, UMi / UMa / InH drops).")


def _settings(items: list[str]) -> dict:
    settings = {}
    for item in items:
        if "=" not in item:
            raise GainnetError(f"--set expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        try:
            settings[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            settings[key.strip()] = value
    return settings


@channels_app.command()
def generate(
    model: Annotated[str, typer.Option(help="cdl-a..cdl-e, tdl-a..tdl-e, umi, uma or inh")],
    out_dir: Annotated[Path, typer.Option("--out", help="dataset folder (resumed if partial)")],
    num: Annotated[int, typer.Option("--num", min=1, help="channels to generate")] = 10_000,
    seed: Annotated[int, typer.Option(min=0, help="dataset seed")] = 0,
    shard_size: Annotated[int, typer.Option(min=1, help="channels per shard file")] = 1000,
    settings: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="a ChannelConfig field, key=value (repeatable), e.g. "
            "num_bs_antennas=32, num_subcarriers=256, carrier_frequency_hz=3.5e9",
        ),
    ] = None,
    threads: ThreadsOption = 1,
) -> None:
    """Generate a channel dataset (Sionna): shards + dataset.json + SHA256SUMS."""
    import torch

    from gainnet.channels.config import ChannelConfig
    from gainnet.core.registry import build_params

    torch.set_num_threads(threads)
    config = build_params(ChannelConfig, {"model": model, **_settings(settings or [])}, "channels")
    dataset = generate_with_progress(config, num, out_dir, seed, shard_size)
    out.print(escape(f"{len(dataset)} channels {list(dataset.h.shape[1:])} in {out_dir}"))
    out.print(f"sha256 of SHA256SUMS: {dataset.digest}")


def generate_with_progress(config, num: int, out_dir: Path, seed: int = 0, shard_size: int = 1000):
    """:func:`~gainnet.channels.dataset.generate_dataset` with a progress bar of its shards."""
    from gainnet.channels.dataset import generate_dataset

    with Progress(
        TextColumn(f"[bold]{escape(config.model)}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("shards"),
        TimeElapsedColumn(),
        console=err,
    ) as progress:
        task = progress.add_task("generate", total=-(-num // shard_size))
        return generate_dataset(
            config,
            num,
            out_dir,
            seed=seed,
            shard_size=shard_size,
            progress=lambda done, total: progress.update(task, completed=done),
        )


@channels_app.command()
def info(
    directory: Annotated[Path, typer.Argument(help="a dataset folder")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Check a dataset (every digest and header) and summarise it."""
    import dataclasses

    import numpy as np

    from gainnet.channels.dataset import load_dataset

    dataset = load_dataset(directory)
    meta = dataset.metadata
    gain = meta["path_gain_db"]
    summary = {
        "channels": len(dataset),
        "shape": list(dataset.h.shape[1:]),
        "config": dataclasses.asdict(dataset.config),
        "seed": dataset.seed,
        "generator": dataset.generator,
        "sha256": dataset.digest,
        "is_gaussian": dataset.is_gaussian,
        "los_fraction": float(meta["los"].mean()),
        "indoor_fraction": float(meta["indoor"].mean()),
        "path_gain_db_p05_p50_p95": [float(x) for x in np.percentile(gain, [5, 50, 95])],
        "delay_spread_ns_p50": float(1e9 * np.median(meta["delay_spread_s"])),
    }
    if as_json:
        print_json(summary)
        return
    for key, value in summary.items():
        out.print(escape(f"{key}: {value}"))
