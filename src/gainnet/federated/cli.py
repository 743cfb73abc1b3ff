"""``gainnet federated``: write a federation config, run one on any engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gainnet.cli_common import ThreadsOption, err, new_app, out
from gainnet.errors import GainnetError

federated_app = new_app(help="Federated training of gainnet's solvers across edge sites.")


def _toml_value(value) -> str:
    """A TOML literal for a JSON-like value (no tomli-w needed)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value)


def config_toml(config) -> str:
    """``config`` (a FederationConfig) as a TOML document ``gainnet federated run`` reads."""
    data = config.to_dict()
    sites = data.pop("sites")
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if v is not None]
    for site in sites:
        lines += ["", "[[sites]]"] + [f"{k} = {_toml_value(v)}" for k, v in site.items()]
    return "\n".join(lines) + "\n"


@federated_app.command("init")
def init_command(
    path: Annotated[Path, typer.Argument(help="TOML file to write")],
    quick: Annotated[bool, typer.Option(help="the quick case study's 6 sites")] = False,
    seed: Annotated[int, typer.Option(help="seed of the sites' links and devices")] = 0,
) -> None:
    """Write the case study's federation (sites, links, devices, policies) as a TOML file."""
    from gainnet.reproduce.federated import case_config

    if path.exists():
        raise GainnetError(f"{path} exists; choose another path")
    path.write_text(config_toml(case_config(quick, seed)))
    err.print(escape(f"wrote {path}"))


@federated_app.command("run")
def run_command(
    config_path: Annotated[Path, typer.Argument(help="federation TOML (gainnet federated init)")],
    engine: Annotated[
        str, typer.Option(help="in-process, flower-simulation or flower-deployment")
    ] = "in-process",
    out_path: Annotated[
        Path | None, typer.Option("--out", help="write the run's JSON result here")
    ] = None,
    save: Annotated[
        Path | None,
        typer.Option(help="save the global model here (a solver checkpoint: gainnet evaluate)"),
    ] = None,
    threads: ThreadsOption = 1,
) -> None:
    """Train the federation of CONFIG_PATH: a progress bar per round, then the final ratio."""
    import torch

    from gainnet.federated import load_federation_config, run_federation

    torch.set_num_threads(threads)
    config = load_federation_config(config_path)
    with Progress(
        TextColumn("[bold]rounds"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=err,
    ) as progress:
        task = progress.add_task("rounds", total=config.rounds, status="")

        def on_round(record) -> None:
            progress.update(
                task,
                advance=1,
                status=f"ratio {record.ratio:.4f}, emulated {record.elapsed_s:.1f} s",
            )

        result = run_federation(config, engine, on_round, model_dir=save)
    if out_path is not None:
        from gainnet.reports import write_json

        write_json(result, out_path)
    target = result["seconds_to_target"]
    out.print(
        f"{engine}: final ratio {result['final_ratio']:.4f} (p05 {result['final_p05_ratio']:.4f})"
        f", target {config.target_ratio} "
        + ("not reached" if target is None else f"reached after {target:.1f} emulated s")
        + f", {result['bytes'] / 1e6:.1f} MB, {result['energy_j']:.1f} J, "
        f"excluded sites {result['excluded_sites']}, wall {result['wall_s']:.1f} s"
    )
