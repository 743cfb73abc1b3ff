"""The ``gainnet`` command: list, train, evaluate, compare."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from gainnet.cli_common import ThreadsOption, err, fail, new_app, out, print_json
from gainnet.core.integrity import check_writable, write_manifest
from gainnet.errors import GainnetError

app = new_app(
    help="Generative diffusion solvers for network decisions, measured against exact experts."
)


def _set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def split_settings(scenario_name: str, solver_name: str, settings: list[str]) -> tuple[dict, dict]:
    """Route ``key=value`` strings to scenario parameters or solver hyper-parameters.

    A key may be prefixed ``scenario.`` or ``solver.`` to say which; otherwise it goes to
    whichever of the two has a field of that name.
    """
    from gainnet.core.registry import SCENARIOS, SOLVERS
    from gainnet.errors import UnknownNameError

    scenario_keys = [f.name for f in dataclasses.fields(SCENARIOS.get(scenario_name).Params)]
    solver_keys = [f.name for f in dataclasses.fields(SOLVERS.get(solver_name).Config)]
    scenario_params: dict[str, Any] = {}
    solver_params: dict[str, Any] = {}
    for item in settings:
        if "=" not in item:
            raise GainnetError(f"--set expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        key = key.strip()
        if key.startswith("scenario."):
            scenario_params[key[len("scenario.") :]] = _parse_value(value)
        elif key.startswith("solver."):
            solver_params[key[len("solver.") :]] = _parse_value(value)
        elif key in scenario_keys:
            scenario_params[key] = _parse_value(value)
        elif key in solver_keys:
            solver_params[key] = _parse_value(value)
        else:
            known = [f"scenario.{k}" for k in scenario_keys] + [f"solver.{k}" for k in solver_keys]
            raise UnknownNameError("--set key", key, known)
    return scenario_params, solver_params


def _budget(steps: int | None, seconds: float | None, default_seconds: float):
    from gainnet.core.solver import Budget

    if steps is None and seconds is None:
        seconds = default_seconds
    return Budget(steps=steps, seconds=seconds)


def fit_with_progress(solver, budget, expert, label: str, quiet: bool = False):
    """``solver.fit`` with a rich progress bar on stderr."""
    if quiet:
        return solver.fit(budget, expert=expert)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[metrics]}"),
        console=err,
        transient=False,
    ) as progress:
        task = progress.add_task(label, total=1.0, metrics="")

        def callback(info) -> None:
            shown = " ".join(f"{k}={v:.4g}" for k, v in list(info.metrics.items())[:2])
            progress.update(task, completed=info.progress, metrics=shown)

        report = solver.fit(budget, expert=expert, callback=callback)
        progress.update(task, completed=1.0)
    return report


def _fail(exc: Exception) -> None:
    fail(exc)


@app.command("list")
def list_command() -> None:
    """List scenarios (with presets and parameters), experts and solvers."""
    from gainnet.core.registry import EXPERTS, SCENARIOS, SOLVERS, load_builtins

    load_builtins()
    table = Table(title="scenarios")
    for col in ("name", "presets", "parameters", "default expert"):
        table.add_column(col)
    for name in SCENARIOS.names():
        cls = SCENARIOS.get(name)
        scenario = cls(cls.Params())
        expert = scenario.default_expert()
        params = ", ".join(f.name for f in dataclasses.fields(cls.Params))
        table.add_row(name, ", ".join(cls.presets), params, f"{expert.name} ({expert.kind})")
    out.print(table)
    table = Table(title="solvers")
    table.add_column("name")
    table.add_column("learns from")
    table.add_column("description")
    for name in SOLVERS.names():
        cls = SOLVERS.get(name)
        fields = [f.name for f in dataclasses.fields(cls.Config)]
        learns = "expert labels" if cls.uses_expert else ("utility" if fields else "-")
        table.add_row(name, learns, cls.summary)
    out.print(table)
    table = Table(title="experts")
    for col in ("name", "kind", "scenarios"):
        table.add_column(col)
    for name in EXPERTS.names():
        cls = EXPERTS.get(name)
        table.add_row(name, cls.kind, ", ".join(cls.scenarios))
    out.print(table)


@app.command()
def train(
    scenario: Annotated[str, typer.Argument(help="scenario name, see `gainnet list`")],
    solver: Annotated[str, typer.Argument(help="solver name, see `gainnet list`")],
    out_dir: Annotated[Path, typer.Option("--out", help="run directory to write")],
    preset: Annotated[str | None, typer.Option(help="scenario preset")] = None,
    settings: Annotated[
        list[str] | None, typer.Option("--set", help="key=value: scenario or solver parameter")
    ] = None,
    steps: Annotated[int | None, typer.Option(help="training steps")] = None,
    seconds: Annotated[float | None, typer.Option(help="training wall seconds")] = None,
    seed: Annotated[int, typer.Option(help="experiment seed")] = 0,
    threads: ThreadsOption = 1,
) -> None:
    """Train SOLVER on SCENARIO and save it (safetensors + JSON) in --out."""
    import gainnet

    _set_threads(threads)
    try:
        scenario_params, solver_params = split_settings(scenario, solver, settings or [])
        sc = gainnet.make_scenario(scenario, preset=preset, **scenario_params)
        sv = gainnet.make_solver(solver, sc, seed=seed, **solver_params)
        budget = _budget(steps, seconds, default_seconds=30.0)
        check_writable(out_dir, "run directory")  # before training, not after
    except gainnet.GainnetError as exc:
        _fail(exc)
    expert = sc.default_expert() if sv.uses_expert else None
    report = fit_with_progress(sv, budget, expert, f"{solver} on {scenario}")
    sv.save(out_dir)
    record = {
        "scenario": sc.config(),
        "preset": preset,
        "solver": solver,
        "seed": seed,
        "threads": threads,
        "budget": dataclasses.asdict(budget),
        "fit": dataclasses.asdict(report),
    }
    (out_dir / "train.json").write_text(json.dumps(record, indent=2) + "\n")
    write_manifest(out_dir, ["solver.json", "weights.safetensors", "train.json"])
    err.print(
        escape(f"trained {solver} for {report.steps} steps in {report.seconds:.1f} s -> {out_dir}")
    )


@app.command()
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="a directory written by `gainnet train`")],
    instances: Annotated[int, typer.Option(help="held-out instances")] = 1000,
    seed: Annotated[int, typer.Option(help="evaluation seed")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    threads: ThreadsOption = 1,
) -> None:
    """Evaluate a trained solver against the scenario's expert on held-out instances."""
    import gainnet

    _set_threads(threads)
    try:
        solver = gainnet.load_solver(run_dir)
        result = gainnet.evaluate(solver, instances=instances, seed=seed)
    except gainnet.GainnetError as exc:
        _fail(exc)
    if as_json:
        print_json(result.to_dict())
    else:
        out.print(result_table([{**result.to_dict(), "train_seconds": None}], solver.scenario))


def result_table(rows: list[dict], scenario) -> Table:
    """A table of evaluation rows with the expert as the reference row."""
    expert = scenario.default_expert()
    table = Table(
        title=f"{scenario.name}: ratio to {expert.name} ({expert.kind}) on the same instances",
        caption="* expert. µs/dec: batched seconds per decision; ms@1: one decision at batch 1",
    )
    for col in ("solver", "ratio", "p05", "feasible", "µs/dec", "ms@1", "train s"):
        table.add_column(col, justify="right" if col != "solver" else "left")
    if rows:
        table.add_row(
            f"{expert.name}*",
            "1.0000",
            "1.0000",
            "1.000",
            f"{rows[0]['expert_seconds_per_decision'] * 1e6:.2f}",
            "",
            "",
        )
    for row in rows:
        train_s = row.get("train_seconds")
        table.add_row(
            row["solver"],
            f"{row['ratio']:.4f}",
            f"{row['p05_ratio']:.4f}",
            f"{row['feasible_rate']:.3f}",
            f"{row['seconds_per_decision'] * 1e6:.2f}",
            f"{row['seconds_single'] * 1e3:.3f}",
            "" if train_s is None else f"{train_s:.1f}",
        )
    return table


@app.command()
def compare(
    scenario: Annotated[str, typer.Argument(help="scenario name")],
    preset: Annotated[str | None, typer.Option(help="scenario preset")] = None,
    solvers: Annotated[str, typer.Option(help="comma-separated solver names")] = (
        "gdm,gdm-reward,sac,ppo,uniform,random"
    ),
    seconds: Annotated[float | None, typer.Option(help="training seconds per solver")] = None,
    steps: Annotated[int | None, typer.Option(help="training steps per solver")] = None,
    instances: Annotated[int, typer.Option(help="held-out instances")] = 1000,
    seed: Annotated[int, typer.Option(help="experiment seed")] = 0,
    as_json: Annotated[
        bool, typer.Option("--json", help="print JSON, one object per solver")
    ] = False,
    threads: ThreadsOption = 1,
) -> None:
    """Train every solver with the same budget and score all of them on the same instances."""
    import gainnet

    _set_threads(threads)
    names = [s.strip() for s in solvers.split(",") if s.strip()]
    try:
        sc = gainnet.make_scenario(scenario, preset=preset)
        built = [gainnet.make_solver(name, sc, seed=seed) for name in names]
        budget = _budget(steps, seconds, default_seconds=30.0)
    except gainnet.GainnetError as exc:
        _fail(exc)
    rows = []
    for solver in built:
        expert = sc.default_expert() if solver.uses_expert else None
        start = time.perf_counter()
        fit_with_progress(solver, budget, expert, f"{solver.name:>10}", quiet=as_json)
        train_s = time.perf_counter() - start
        result = gainnet.evaluate(solver, sc, instances=instances, seed=seed)
        rows.append({**result.to_dict(), "train_seconds": train_s})
    if as_json:
        print_json(rows)
    else:
        out.print(result_table(rows, sc))


@app.command()
def cycle(
    config_path: Annotated[Path, typer.Argument(help="a cycle TOML, e.g. configs/aigx-cycle.toml")],
    database: Annotated[str | None, typer.Option(help="override the config's database")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print rounds and phase metrics")] = False,
    threads: ThreadsOption = 1,
) -> None:
    """Run the drift -> relabel -> retrain -> redeploy cycle described by CONFIG_PATH."""
    import gainnet
    from gainnet.channels.cli import generate_with_progress
    from gainnet.continual import Cycle
    from gainnet.continual.config_file import dataset_requests, load_cycle_config
    from gainnet.continual.metrics import summarise

    _set_threads(threads)
    try:
        overrides = {} if database is None else {"database": database}
        config = load_cycle_config(config_path, **overrides)
        for request in dataset_requests(config_path):  # before the phases' scenarios load them
            generate_with_progress(
                request.channel_config(), request.num, Path(request.out), request.seed
            )
        runner = Cycle(config)
    except gainnet.GainnetError as exc:
        _fail(exc)
    reports = []
    with (
        contextlib.closing(runner),
        Progress(
            TextColumn("[bold]cycle"),
            BarColumn(),
            TextColumn("round {task.completed:.0f}/{task.total:.0f}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            console=err,
            disable=as_json,
        ) as progress,
    ):
        task = progress.add_task(
            "cycle", total=runner.total_rounds, status="training the first model"
        )
        for report in runner:
            reports.append(report)
            status = f"{escape(report.phase)}: ratio {report.ratio:.4f}" + (
                " promoted" if report.promoted else ""
            )
            progress.update(task, advance=1, status=status)
    phases = summarise(reports, config)
    if as_json:
        print_json(
            {
                "rounds": [dataclasses.asdict(r) for r in reports],
                "phases": [dataclasses.asdict(p) for p in phases],
            }
        )
        return
    table = Table(title=escape(f"cycle {config_path} (store: {config.database})"))
    for col in (
        "phase",
        "ratio",
        "detected after",
        "recovered after",
        "regret",
        "labels",
        "retrain s",
        "promotions",
    ):
        table.add_column(col, justify="left" if col == "phase" else "right")
    for p in phases:
        table.add_row(
            escape(p.phase),
            f"{p.ratio:.4f}",
            "-" if p.detection_delay is None else f"{p.detection_delay} decisions",
            "-" if p.recovery_decisions is None else f"{p.recovery_decisions} decisions",
            f"{p.regret:.1f}",
            str(p.labels_used),
            f"{p.retrain_seconds:.1f}",
            str(p.promotions),
        )
    out.print(table)


@app.command()
def reproduce(
    case: Annotated[
        str,
        typer.Argument(
            help="case study: aigx, edge-incentive, closed-loop, iscc, csi-feedback, "
            "synthetic-channels or federated"
        ),
    ],
    quick: Annotated[bool, typer.Option(help="small sizes (under 3 minutes)")] = False,
    out_dir: Annotated[Path | None, typer.Option("--out", help="output folder")] = None,
    seed: Annotated[int, typer.Option(help="experiment seed")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="print results.json")] = False,
    feedback: Annotated[
        str | None,
        typer.Option(help="edge-incentive: 'utility' (default) or 'improvement' (seed's reward)"),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="federated: a federation TOML with a [case_study] table"),
    ] = None,
    threads: ThreadsOption = 1,
) -> None:
    """Reproduce a seed paper's case study: report.md, results.json, CSVs and figures."""
    from gainnet.errors import UnknownNameError

    cases = {"aigx": "gainnet.reproduce.aigx:run_aigx",
             "edge-incentive": "gainnet.reproduce.edge_incentive:run_edge_incentive",
             "closed-loop": "gainnet.reproduce.closed_loop:run_closed_loop",
             "iscc": "gainnet.reproduce.iscc:run_iscc",
             "csi-feedback": "gainnet.reproduce.csi_feedback:run_csi_feedback",
             "synthetic-channels":
                 "gainnet.reproduce.synthetic_channels:run_synthetic_channels",
             "federated": "gainnet.reproduce.federated:run_federated"}  # fmt: skip
    if case not in cases:
        _fail(UnknownNameError("case study", case, list(cases)))
    import importlib

    module, _, function = cases[case].partition(":")
    run = getattr(importlib.import_module(module), function)
    extra = {}
    if feedback is not None:
        if case != "edge-incentive":
            _fail(GainnetError("--feedback applies to edge-incentive only"))
        if feedback not in ("utility", "improvement"):
            _fail(GainnetError(f"--feedback must be 'utility' or 'improvement', got {feedback!r}"))
        extra["feedback"] = feedback
    if config is not None:
        if case != "federated":
            _fail(GainnetError("--config applies to the federated case study only"))
        extra["config_path"] = config

    _set_threads(threads)
    suffix = "-improvement" if feedback == "improvement" else ""
    out_dir = out_dir or Path("runs") / (f"{case}{suffix}-quick" if quick else f"{case}{suffix}")
    with Progress(
        TextColumn(f"[bold]{case}"),
        BarColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=err,
        disable=as_json,
    ) as progress:
        task = progress.add_task(case, total=1.0, status="")
        results = run(
            out_dir,
            quick=quick,
            seed=seed,
            progress=lambda status, fraction: progress.update(
                task, completed=fraction, status=status
            ),
            **extra,
        )
    if as_json:
        print_json(results)
        return
    out.print((out_dir / "report.md").read_text(), markup=False, highlight=False)
    err.print(escape(f"report: {out_dir / 'report.md'}"))


def _add_subcommands() -> None:
    from gainnet.channels.cli import channels_app
    from gainnet.csi.cli import csi_app
    from gainnet.federated.cli import federated_app
    from gainnet.split.cli import split_app
    from gainnet.synthetic.cli import synthetic_app

    app.add_typer(split_app, name="split")
    app.add_typer(channels_app, name="channels")
    app.add_typer(csi_app, name="csi")
    app.add_typer(synthetic_app, name="synthetic")
    app.add_typer(federated_app, name="federated")


_add_subcommands()


def main() -> None:
    """Console entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:  # stdout closed early (e.g. piped into `head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


if __name__ == "__main__":
    main()
