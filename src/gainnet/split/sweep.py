"""``gainnet split sweep``: every split point x codec x link, measured next to the latency model.

Each row is the median (and 95th percentile) of ``repeats`` real requests through a live server
over an emulated link, beside the profile's prediction, the payload, and the embedding's cosine
similarity to the unsplit model (and zero-shot accuracy for the text model).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from gainnet import reports
from gainnet.errors import GainnetError
from gainnet.split.calibration import OnlineCalibration
from gainnet.split.device import ServerConnection, SplitDevice
from gainnet.split.encoder import RAW_SPLIT, SplitEncoder, parse_split_label, split_label
from gainnet.split.latency import SplitProfile
from gainnet.split.link import Link

COLUMNS = (
    "model", "split", "codec", "bandwidth_mbps", "rtt_ms", "device_slowdown", "requests",
    "measured_median_s", "measured_p95_s", "predicted_s", "error_pct", "device_s", "server_s",
    "network_s", "uplink_bytes", "min_cosine", "accuracy", "shaping", "predicted_first_s",
    "predicted_online_s", "error_online_pct", "device_factor", "server_factor",
    "measured_rounds_s",
)  # fmt: skip


def run_sweep(
    address: tuple[str, int],
    encoder: SplitEncoder,
    inputs,
    profile: SplitProfile,
    links: list[Link],
    codec_names: list[str],
    splits: list[int] | None = None,
    repeats: int = 5,
    slowdown: float = 1.0,
    targets: np.ndarray | None = None,
    labels: tuple[str, ...] | None = None,
    progress: Callable[[], None] | None = None,
    shaper: Callable[[Link], tuple[Link, str]] | None = None,
    reprofile: Callable[[], SplitProfile] | None = None,
) -> list[dict]:
    """Measure every combination; returns one row per (link, codec, split), see ``COLUMNS``.

    ``shaper(link)``, when given, makes the kernel shape the link and returns what the
    transport must still emulate and who shapes what (see :mod:`gainnet.split.netns`); by
    default the transport paces everything.

    ``reprofile()``, when given, re-measures the profile once per round of requests, and each
    link's predictions use the median of its rounds' profiles: on a shared machine whose speed
    drifts over minutes, this compares the model with the requests measured beside it. Rows
    always also carry ``predicted_first_s``, the prediction from ``profile`` alone.

    Rows also carry ``predicted_online_s``: the median over the point's requests of the
    prediction made just before each request by an :class:`OnlineCalibration` of ``profile``,
    which learns from every earlier request of the sweep (never from the one it predicts). One
    unmeasured pass over every point warms it up before the first link's rounds.
    """
    if not isinstance(repeats, int) or repeats < 1:
        raise GainnetError(f"repeats must be a positive integer, got {repeats!r}")
    reference = encoder.embed(inputs).numpy()
    splits = profile.splits() if splits is None else splits
    rows = []
    online = OnlineCalibration(profile)
    for link in links:
        paced, shaping = shaper(link) if shaper else (link, "transport pacing")
        points = [
            (codec, split)
            for codec in codec_names
            for split in splits
            if split != RAW_SPLIT or codec == codec_names[0]  # raw: the same for any codec
        ]
        results: dict[tuple, list] = {point: [] for point in points}
        online_s: dict[tuple, list] = {point: [] for point in points}
        round_profiles = []
        for _ in range(repeats):  # interleaved, so a drift in machine speed hits every point
            if reprofile is not None:  # before connecting: the server drops idle connections
                round_profiles.append(reprofile())
            with ServerConnection(address, link=paced) as conn:
                device = SplitDevice(encoder, conn, slowdown=slowdown)
                device.infer(inputs, encoder.num_layers, "fp32")  # warm the connection, caches
                if online.observed == 0:
                    for codec, split in points:
                        _observe(online, device.infer(inputs, split, wire_codec(codec, split)))
                for codec, split in points:
                    wire = wire_codec(codec, split)
                    predicted = online.predict(split, wire, link)["total_s"]
                    online_s[codec, split].append(online.factors() | {"total_s": predicted})
                    result = device.infer(inputs, split, wire)
                    _observe(online, result)
                    results[codec, split].append(result)
                    if progress:
                        progress()
        merged = SplitProfile.median(round_profiles) if round_profiles else profile
        for codec, split in points:
            row = _row(
                encoder, results[codec, split], merged, link, slowdown, reference, targets, labels
            )
            first = profile.predict(split, wire_codec(codec, split), link)
            rows.append(
                row
                | {"shaping": shaping, "predicted_first_s": first["total_s"]}
                | _online_columns(online_s[codec, split], row["measured_median_s"])
            )
    return rows


def wire_codec(codec: str, split: int) -> str:
    """The codec on the wire: the raw split always sends its input at fp32."""
    return "fp32" if split == RAW_SPLIT else codec


def _observe(online: OnlineCalibration, result) -> None:
    device_s = result.device_compute_s + result.emulated_slowdown_s
    online.observe(result.split, result.codec, device_s, result.server_compute_s)


def _online_columns(predictions: list[dict], measured_s: float) -> dict:
    """Median online prediction and speed factors of one point's requests."""
    total = float(np.median([p["total_s"] for p in predictions]))
    return {
        "predicted_online_s": total,
        "error_online_pct": 100.0 * (total - measured_s) / measured_s,
        "device_factor": float(np.median([p["device"] for p in predictions])),
        "server_factor": float(np.median([p["server"] for p in predictions])),
    }


def _row(encoder, results, profile, link, slowdown, reference, targets, labels) -> dict:
    first = results[0]
    total = np.array([r.total_s for r in results])
    predicted = profile.predict(first.split, first.codec, link)["total_s"]
    measured = float(np.median(total))
    cosine = float(min((r.embedding * reference).sum(1).min() for r in results))
    accuracy = ""
    if targets is not None and labels is not None and first.predicted is not None:
        index = {name: i for i, name in enumerate(labels)}
        accuracy = float(np.mean([index[p] for p in first.predicted] == targets))
    return {
        "model": encoder.name,
        "split": split_label(first.split),
        "codec": first.codec,
        "bandwidth_mbps": link.bandwidth_mbps if link.bandwidth_mbps is not None else "",
        "rtt_ms": link.rtt_ms,
        "device_slowdown": slowdown,
        "requests": len(results),
        "measured_median_s": measured,
        "measured_p95_s": float(np.percentile(total, 95)),
        "predicted_s": predicted,
        "error_pct": 100.0 * (predicted - measured) / measured,
        "device_s": float(np.median([r.device_compute_s + r.emulated_slowdown_s for r in results])),
        "server_s": float(np.median([r.server_compute_s for r in results])),
        "network_s": float(np.median([r.network_s for r in results])),
        "uplink_bytes": first.uplink_bytes,
        "min_cosine": cosine,
        "accuracy": accuracy,
        "measured_rounds_s": ";".join(f"{t:.6f}" for t in total),
    }


def write_csv(rows: list[dict], path: Path) -> Path:
    """The sweep's rows with the :data:`COLUMNS` header."""
    return reports.write_csv(rows, path, COLUMNS)


def plot_sweep(rows: list[dict], path: Path, title: str = "") -> Path:
    """Latency (measured median, markers; model, dashed) versus split point, per codec and link."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["bandwidth_mbps"], row["codec"]), []).append(row)
    links = sorted({key[0] for key in groups}, key=lambda b: (b == "", b))
    size = (4.2 * len(links), 3.6)
    with reports.figure(path, 1, len(links), size, title=title or None, squeeze=False) as (
        _,
        axes,
    ):
        _plot_links(axes, links, groups)
    return path


def _plot_links(axes, links, groups) -> None:
    for ax, bw in zip(axes[0], links, strict=True):
        for (link_bw, codec), group in sorted(groups.items(), key=lambda kv: kv[0][1]):
            if link_bw != bw:
                continue
            xs = [parse_split_label(r["split"]) for r in group]
            line = ax.plot(xs, [1000 * r["measured_median_s"] for r in group], "o-", label=codec)
            model_ms = [1000 * r["predicted_online_s"] for r in group]
            ax.plot(xs, model_ms, "--", color=line[0].get_color())
        ax.set_title(f"{bw} Mbit/s" if bw != "" else "unpaced")
        ax.set_xlabel("split point k (-1 = raw input)")
        ax.set_ylabel("end-to-end latency (ms)")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0][0].legend(title="codec (dashed: online model)", fontsize=8)
