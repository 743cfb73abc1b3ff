"""``gainnet split``: serve, run, profile and sweep real split inference."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gainnet.cli_common import fail, new_app, print_json

split_app = new_app(
    help="Split a transformer between an edge device and an edge server over real TCP.",
)
out = Console(width=None if sys.stdout.isatty() else 110)
err = Console(stderr=True)

ModelOption = Annotated[str, typer.Option("--model", help="minilm (real, pretrained) or vit")]
ServerOption = Annotated[
    str | None, typer.Option("--server", help="HOST:PORT of a running `gainnet split serve`")
]
SlowdownOption = Annotated[
    float, typer.Option("--slowdown", help="emulated device slowdown factor (>= 1)")
]
ThreadsOption = Annotated[int, typer.Option("--threads", min=1, max=256, help="torch threads")]
MaxTokensOption = Annotated[
    int,
    typer.Option(
        "--max-tokens", min=1, max=512, help="MiniLM: tokens per text (longer texts are cut)"
    ),
]


def _fail(exc: Exception) -> None:
    fail(exc)


def _setup(threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, threads))


def _parse_split(text: str) -> int:
    from gainnet.errors import GainnetError
    from gainnet.split.encoder import parse_split_label

    try:
        return parse_split_label(text)
    except ValueError:
        raise GainnetError(f"--split takes 'raw' or a layer count, got {text!r}") from None


def _csv(text: str, cast=str) -> list:
    from gainnet.errors import GainnetError

    try:
        return [cast(item.strip()) for item in text.split(",") if item.strip()]
    except ValueError:
        raise GainnetError(f"cannot parse list {text!r}") from None


@contextlib.contextmanager
def _server(address: str | None, model: str, kernel: bool = False):
    """Yields ``(address, shaper)``: the given server, or a local one in a child process.

    With ``kernel`` the local server runs in its own network namespace behind a veth pair and
    ``shaper(link)`` makes the kernel shape it (see ``gainnet.split.netns``).
    """
    from gainnet.errors import GainnetError
    from gainnet.split.device import parse_address
    from gainnet.split.netns import kernel_link
    from gainnet.split.spawn import spawned_server

    if address is not None:
        if kernel:
            raise GainnetError("--kernel-link starts its own server; leave out --server")
        yield parse_address(address), None
        return
    if not kernel:
        err.print(f"starting a local edge server process for {model} ...")
        with spawned_server(models=(model,)) as where:
            yield where, None
        return
    with kernel_link() as kl:
        err.print(f"starting an edge server in network namespace {kl.namespace} ...")
        with spawned_server(models=(model,), prefix=kl.prefix, host=kl.server_ip) as where:
            yield where, kl.shape


@split_app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port (0 = any free port)")] = 0,
    models: Annotated[str, typer.Option(help="comma-separated models to serve")] = "minilm,vit",
    vit_seed: Annotated[int, typer.Option(help="seed of the ViT weights")] = 0,
    max_frame_mb: Annotated[float, typer.Option(help="largest accepted frame, MiB")] = 64.0,
    read_timeout_s: Annotated[
        float, typer.Option(help="seconds without data inside a frame before dropping it")
    ] = 10.0,
    idle_timeout_s: Annotated[
        float, typer.Option(help="seconds an idle connection is kept")
    ] = 15.0,
    max_tokens: MaxTokensOption = 256,
    max_batch: Annotated[int, typer.Option(help="inputs per request")] = 32,
    max_batch_tokens: Annotated[int, typer.Option(help="inputs x tokens per request")] = 8192,
    max_inflight_mb: Annotated[
        float, typer.Option(help="MiB of frames in flight over all connections")
    ] = 512.0,
    threads: ThreadsOption = 1,
) -> None:
    """Run the edge server; prints `READY <port>` once it listens."""
    from gainnet.errors import GainnetError
    from gainnet.split.protocol import FrameLimits
    from gainnet.split.server import ServerConfig, run_server

    try:
        config = ServerConfig(
            host=host,
            port=port,
            models=tuple(_csv(models)),
            vit_seed=vit_seed,
            max_tokens=max_tokens,
            limits=FrameLimits(max_frame_bytes=_mib(max_frame_mb, "--max-frame-mb")),
            read_timeout_s=read_timeout_s,
            idle_timeout_s=idle_timeout_s,
            max_batch=max_batch,
            max_batch_tokens=max_batch_tokens,
            max_inflight_bytes=_mib(max_inflight_mb, "--max-inflight-mb"),
            threads=threads,
        )
        _setup(threads)
        run_server(config, ready=lambda line: print(line, flush=True))
    except GainnetError as exc:
        _fail(exc)


def _mib(value: float, option: str) -> int:
    """``value`` MiB as bytes, or a clear error for NaN, infinities and non-positive sizes."""
    import math

    from gainnet.errors import InvalidConfigError

    if not (math.isfinite(value) and 0 < value <= 1 << 20):
        raise InvalidConfigError(f"{option} must be a positive number of MiB, got {value}")
    return int(value * (1 << 20))


@split_app.command("run")
def run(
    server: Annotated[str, typer.Option("--server", help="HOST:PORT of the edge server")],
    split: Annotated[str, typer.Option("--split", help="layers on the device, or 'raw'")],
    codec: Annotated[str, typer.Option(help="fp32, fp16 or int8")] = "fp32",
    model: ModelOption = "minilm",
    batch: Annotated[int, typer.Option(help="inputs per request")] = 8,
    text: Annotated[list[str] | None, typer.Option(help="text to classify (repeatable)")] = None,
    bandwidth_mbps: Annotated[float | None, typer.Option(help="emulated link rate")] = None,
    rtt_ms: Annotated[float, typer.Option(help="emulated round-trip time")] = 0.0,
    slowdown: SlowdownOption = 1.0,
    seed: Annotated[int, typer.Option(help="seed of the sampled inputs")] = 0,
    max_tokens: MaxTokensOption = 256,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    threads: ThreadsOption = 1,
) -> None:
    """One split-inference request from this process (the device) to the server."""
    import numpy as np

    from gainnet.errors import GainnetError
    from gainnet.split.device import ServerConnection, SplitDevice
    from gainnet.split.link import Link
    from gainnet.split.models import make_encoder, sample_inputs

    _setup(threads)
    try:
        encoder = make_encoder(model, max_tokens=max_tokens)
        inputs, targets, labels = sample_inputs(encoder, batch, seed)
        if text:
            if model != "minilm":
                raise GainnetError("--text needs --model minilm")
            inputs, targets = list(text), None
        link = Link(bandwidth_mbps, rtt_ms)
        with ServerConnection(server, link=link) as conn:
            result = SplitDevice(encoder, conn, slowdown).infer(inputs, _parse_split(split), codec)
    except GainnetError as exc:
        _fail(exc)
    reference = encoder.embed(inputs).numpy()
    record = result.summary() | {
        "model": model,
        "batch": len(inputs),
        "link": link.to_meta(),
        "device_slowdown": slowdown,
        "emulation": "link paced in the transport; device slowdown emulated by waiting",
        "bitwise_equal_to_unsplit": bool(np.array_equal(result.embedding, reference)),
        "min_cosine_to_unsplit": float((result.embedding * reference).sum(1).min()),
    }
    if targets is not None and result.predicted is not None:
        index = {name: i for i, name in enumerate(labels)}
        record["accuracy"] = float(np.mean([index[p] for p in result.predicted] == targets))
    if as_json:
        print_json(record)
        return
    table = Table(title=escape(f"split inference: {model}, split {record['split']}, {codec}"))
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for key, value in record.items():
        if key != "predicted":
            table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    out.print(table)
    if result.predicted is not None:
        for item, label in zip(inputs, result.predicted, strict=True):
            out.print(f"[bold]{label:>11}[/bold]  {escape(str(item))}")


@split_app.command("profile")
def profile(
    server: ServerOption = None,
    model: ModelOption = "vit",
    batch: Annotated[int, typer.Option(help="inputs per request")] = 1,
    repeats: Annotated[int, typer.Option(help="timed repetitions per stage")] = 5,
    slowdown: SlowdownOption = 1.0,
    out_path: Annotated[Path | None, typer.Option("--out", help="profile JSON to write")] = None,
    threads: ThreadsOption = 1,
) -> None:
    """Per-layer compute on device and server, payload per split, fit c(l) = a*l + b."""
    from gainnet.errors import GainnetError
    from gainnet.split.device import ServerConnection
    from gainnet.split.models import make_encoder, sample_inputs
    from gainnet.split.profile import profile_split, write_profile

    _setup(threads)
    out_path = out_path or Path("runs") / "split" / f"profile-{model}.json"
    try:
        encoder = make_encoder(model)
        inputs, _, _ = sample_inputs(encoder, batch)
        with _server(server, model) as (address, _), ServerConnection(address) as conn:
            result = profile_split(encoder, encoder.raw_input(inputs), conn, repeats, slowdown)
    except GainnetError as exc:
        _fail(exc)
    write_profile(result, out_path)
    data = result.data
    table = Table(title=f"{model}: batch {data['batch']} x {data['tokens']} tokens")
    for col in ("split k", "device ms", "server ms", "fp32 KiB", "fp16 KiB", "int8 KiB"):
        table.add_column(col, justify="right")
    for k in result.splits():
        sizes = [result.request_bytes(k, c) / 1024 for c in ("fp32", "fp16", "int8")]
        table.add_row(
            "raw" if k < 0 else str(k),
            f"{1000 * result.device_s(k, 'fp32'):.1f}",
            f"{1000 * result.server_s(k, 'fp32'):.1f}",
            *[f"{s:.1f}" for s in sizes],
        )
    out.print(table)
    fit = data["cost_fit"]
    out.print(
        f"c(l) = {1000 * fit['a_s_per_layer']:.2f} ms * l + {1000 * fit['b_s']:.2f} ms "
        f"(R^2 {fit['r2']:.4f}) -> {out_path}"
    )


@split_app.command("sweep")
def sweep(
    server: ServerOption = None,
    model: ModelOption = "vit",
    batch: Annotated[int, typer.Option(help="inputs per request")] = 1,
    codecs: Annotated[str, typer.Option(help="comma-separated codecs")] = "fp32,fp16,int8",
    rates: Annotated[str, typer.Option(help="link rates, Mbit/s")] = "5,10,50",
    rtt_ms: Annotated[float, typer.Option(help="round-trip time, ms")] = 20.0,
    repeats: Annotated[int, typer.Option(help="requests per point")] = 3,
    slowdown: SlowdownOption = 1.0,
    out_dir: Annotated[Path | None, typer.Option("--out", help="output folder")] = None,
    kernel: Annotated[
        bool, typer.Option("--kernel-link", help="shape the link in the kernel (root, netns)")
    ] = False,
    threads: ThreadsOption = 1,
) -> None:
    """All split points x codecs x link rates: CSV, PNG and a table, beside the latency model."""
    from gainnet.errors import GainnetError
    from gainnet.split.codecs import check_codec
    from gainnet.split.device import ServerConnection
    from gainnet.split.link import Link
    from gainnet.split.models import make_encoder, sample_inputs
    from gainnet.split.profile import profile_anew, profile_split, write_profile
    from gainnet.split.sweep import plot_sweep, run_sweep, write_csv

    _setup(threads)
    out_dir = out_dir or Path("runs") / f"split-sweep-{model}"
    try:
        codec_names = [check_codec(name) for name in _csv(codecs)]
        links = [Link(rate, rtt_ms) for rate in _csv(rates, float)]
        encoder = make_encoder(model)
        inputs, targets, labels = sample_inputs(encoder, batch)
        with _server(server, model, kernel) as (address, shaper):
            if shaper:
                shaper(Link())
            raw = encoder.raw_input(inputs)
            with ServerConnection(address) as conn:  # unpaced: profiling only
                prof = profile_split(encoder, raw, conn, 5, slowdown)
                write_profile(prof, out_dir / "profile.json")
                points = len(prof.splits()) * len(codec_names) - len(codec_names) + 1
                with Progress(
                    TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=err,
                ) as bar:  # fmt: skip
                    task = bar.add_task("sweep", total=len(links) * points * repeats)
                    rows = run_sweep(
                        address, encoder, inputs, prof, links, codec_names,
                        repeats=repeats, slowdown=slowdown, targets=targets, labels=labels,
                        progress=lambda: bar.advance(task), shaper=shaper,
                        reprofile=lambda: profile_anew(address, encoder, raw, 2, slowdown),
                    )  # fmt: skip
    except GainnetError as exc:
        _fail(exc)
    write_csv(rows, out_dir / "sweep.csv")
    plot_sweep(rows, out_dir / "sweep.png", title=f"{model}, batch {batch}, RTT {rtt_ms} ms")
    table = Table(title=f"{model}: median end-to-end latency (ms), measured / model")
    table.add_column("link")
    table.add_column("codec")
    table.add_column("best measured")
    table.add_column("best predicted")
    table.add_column("raw input")
    table.add_column("max |error| % (online)", justify="right")
    for link in links:
        for codec in codec_names:
            group = [
                r
                for r in rows
                if r["bandwidth_mbps"] == link.bandwidth_mbps
                and (r["codec"] == codec or r["split"] == "raw")
            ]
            best_m = min(group, key=lambda r: r["measured_median_s"])
            best_p = min(group, key=lambda r: r["predicted_online_s"])
            raw = next(r for r in group if r["split"] == "raw")
            table.add_row(
                f"{link.bandwidth_mbps:g} Mbit/s",
                codec,
                f"k={best_m['split']}: {1000 * best_m['measured_median_s']:.0f}",
                f"k={best_p['split']}: {1000 * best_p['measured_median_s']:.0f}",
                f"{1000 * raw['measured_median_s']:.0f}",
                f"{max(abs(r['error_online_pct']) for r in group):.1f}",
            )
    out.print(table)
    err.print(
        escape(
            f"wrote {out_dir / 'sweep.csv'}, {out_dir / 'sweep.png'}, {out_dir / 'profile.json'}"
        )
    )
