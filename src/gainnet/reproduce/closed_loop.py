"""The pricing loop closed: a learned layer price sets every device's split point for real.

Seed 002 prices the transformer layers that devices run for the edge server; its case study
stops at the game's utilities. Here the loop runs end to end on this machine:

1. a real edge server process starts and ``gainnet split profile`` measures the ViT-B/32-shaped
   encoder on it, giving the device cost ``c(l) = a*l + b``;
2. the ``stackelberg-split`` scenario is built from that profile, and ``gdm`` learns the price
   from the exact ``equilibrium`` expert's 16 best prices (complete information;
   :data:`GDM_SETTINGS`);
3. for held-out device populations, the learned price, the exact equilibrium price and price 0
   (every device sends its raw image: all-server) each set every device's best response
   ``l_n``, and ``l_n`` becomes that device's split point (``l_n = 0``: the raw input);
4. all devices then send their requests at once over paced links to the one server, and the
   report shows what was measured: the server's compute per round (its load), throughput,
   every device's end-to-end latency (its own compute, measured alone, plus its round trip)
   and whether its measured compute stayed within its budget ``C_n``.

``run_closed_loop`` writes ``results.json``, ``devices.csv``, ``closed_loop.png`` and
``report.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from gainnet import reports
from gainnet.core.seeding import rng_for
from gainnet.core.solver import Budget
from gainnet.registry import make_scenario, make_solver

PRICINGS = ("learned (gdm)", "equilibrium", "all-server")
#: the gdm that reaches the equilibrium with complete information (docs/incentives.md): it
#: learns the spread of the 16 best prices and decides best-of-32 with 10 denoising steps
GDM_SETTINGS = {"label_candidates": 16, "num_inference_steps": 10, "num_samples": 32}


def _sizes(quick: bool) -> dict:
    if quick:
        return {"populations": 1, "devices": 6, "steps": 1500, "requests": 2}
    return {"populations": 3, "devices": 10, "steps": 9000, "requests": 4}


def run_closed_loop(
    out_dir: str | Path,
    quick: bool = False,
    seed: int = 0,
    progress: Callable[[str, float], None] | None = None,
    codec: str = "int8",
    bandwidth_mbps: float = 10.0,
    rtt_ms: float = 20.0,
) -> dict:
    """Run the loop; returns the ``results.json`` dict. ``progress(status, fraction)``."""
    from gainnet.split.concurrency import measure_concurrency
    from gainnet.split.device import ServerConnection
    from gainnet.split.encoder import RAW_SPLIT
    from gainnet.split.link import Link
    from gainnet.split.models import make_encoder
    from gainnet.split.profile import profile_split, write_profile
    from gainnet.split.spawn import spawned_server

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sizes = _sizes(quick)
    tell = progress or (lambda status, fraction: None)
    encoder = make_encoder("vit")
    link = Link(bandwidth_mbps, rtt_ms)
    rows: list[dict] = []
    with spawned_server(models=("vit",)) as address:
        tell("profiling the encoder on the live server", 0.0)
        with ServerConnection(address) as conn:
            raw = encoder.raw_input(encoder.random_images(1, seed=0))
            profile = profile_split(encoder, raw, conn, repeats=5)
        profile_path = write_profile(profile, out / "profile.json")
        scenario = make_scenario(
            "stackelberg-split", profile_path=str(profile_path), num_devices=sizes["devices"]
        )
        tell(f"training gdm ({sizes['steps']} steps)", 0.1)
        solver = make_solver("gdm", scenario, seed=seed, **GDM_SETTINGS)
        solver.fit(Budget(steps=sizes["steps"]), expert=scenario.default_expert())
        populations = scenario.sample(sizes["populations"], rng_for(seed, "eval"))
        prices = {
            PRICINGS[0]: solver.decide(populations),
            PRICINGS[1]: scenario.default_expert().solve(populations),
            PRICINGS[2]: np.zeros((len(populations), 1)),
        }
        images = [encoder.random_images(1, seed=100 + i) for i in range(sizes["devices"])]
        jobs = [(i, name) for i in range(len(populations)) for name in PRICINGS]
        for index, (i, name) in enumerate(jobs):
            tell(f"population {i}: {name}", 0.2 + 0.8 * index / len(jobs))
            population = populations.take(slice(i, i + 1))
            price = prices[name][i : i + 1]
            layers = scenario.layers(population, price)[0]
            splits = [RAW_SPLIT if n == 0 else int(n) for n in layers]
            measured = measure_concurrency(
                address, encoder, images, splits, codec, sizes["requests"], link, compute_repeats=3
            )
            utility = float(scenario.utility(population, price)[0])
            for n, device in enumerate(measured["per_device"]):
                rows.append(
                    {
                        "population": i,
                        "pricing": name,
                        "price": float(price[0, 0]),
                        "server_utility": utility,
                        "device": n,
                        "layers_on_device": int(layers[n]),
                        "beta": float(population.beta[0, n]),
                        "budget_ms": float(population.capacity_ms[0, n]),
                        "device_compute_ms": 1000 * device["device_compute_s"],
                        "round_trip_ms": 1000 * device["median_s"],
                        "end_to_end_ms": 1000 * (device["device_compute_s"] + device["median_s"]),
                        "server_compute_ms": 1000 * device["server_compute_s"],
                        "round_server_compute_s": measured["server_compute_s"] / sizes["requests"],
                        "throughput_rps": measured["throughput_rps"],
                        "mismatches": measured["mismatches"],
                    }
                )
    results = _summarise(rows, sizes, seed, profile.cost_fit(), codec, link)
    _write(out, rows, results)
    tell("done", 1.0)
    return results


def _summarise(rows, sizes, seed, cost_fit, codec, link) -> dict:
    summary: dict = {
        "seed": seed,
        "sizes": sizes,
        "codec": codec,
        "bandwidth_mbps": link.bandwidth_mbps,
        "rtt_ms": link.rtt_ms,
        "cost_fit": cost_fit,
        "pricings": {},
    }
    for name in PRICINGS:
        mine = [r for r in rows if r["pricing"] == name]
        per_population = {r["population"]: r for r in mine}.values()
        latency = np.array([r["end_to_end_ms"] for r in mine])
        summary["pricings"][name] = {
            "price_mean": float(np.mean([r["price"] for r in per_population])),
            "server_utility_mean": float(np.mean([r["server_utility"] for r in per_population])),
            "layers_on_device_per_device": float(np.mean([r["layers_on_device"] for r in mine])),
            "server_compute_per_round_s": float(
                np.mean([r["round_server_compute_s"] for r in per_population])
            ),
            "throughput_rps": float(np.mean([r["throughput_rps"] for r in per_population])),
            "end_to_end_mean_ms": float(latency.mean()),
            "end_to_end_p95_ms": float(np.percentile(latency, 95)),
            "within_budget_rate": float(
                np.mean([r["device_compute_ms"] <= r["budget_ms"] for r in mine])
            ),
            "mismatches": int(sum(r["mismatches"] for r in per_population)),
        }
    base = summary["pricings"]["all-server"]
    for entry in summary["pricings"].values():
        entry["server_load_vs_all_server"] = (
            entry["server_compute_per_round_s"] / base["server_compute_per_round_s"]
        )
        entry["latency_vs_all_server"] = entry["end_to_end_mean_ms"] / base["end_to_end_mean_ms"]
    return summary


def _write(out: Path, rows: list[dict], results: dict) -> None:
    reports.write_csv(rows, out / "devices.csv")
    reports.write_json(results, out / "results.json")
    _figure(out, results)
    (out / "report.md").write_text(_report(results))


def _figure(out: Path, results: dict) -> None:
    entries = results["pricings"]
    names = list(entries)
    title = (
        f"learned layer price -> real split inference ({results['sizes']['devices']} devices, "
        f"{results['bandwidth_mbps']:g} Mbit/s, {results['codec']})"
    )
    with reports.figure(out / "closed_loop.png", 1, 3, (11, 3.4), title=title) as (_, axes):
        _bars(axes, entries, names)


def _bars(axes, entries: dict, names: list[str]) -> None:
    panels = (
        ("server_compute_per_round_s", "server compute per round (s)"),
        ("end_to_end_mean_ms", "mean end-to-end latency (ms)"),
        ("server_utility_mean", "server utility (game)"),
    )
    for ax, (key, label) in zip(axes, panels, strict=True):
        ax.bar(range(len(names)), [entries[n][key] for n in names], color=["C0", "C1", "C7"])
        ax.set_xticks(range(len(names)), names, fontsize=8)
        ax.set_title(label, fontsize=9)
        ax.grid(alpha=0.3, axis="y")


def _report(results: dict) -> str:
    sizes = results["sizes"]
    fit = results["cost_fit"]
    lines = [
        "# Closed loop: learned layer price -> split points -> real split inference",
        "",
        f"{sizes['devices']} devices per population, {sizes['populations']} held-out "
        f"populations, {sizes['requests']} requests per device, all devices at once; ViT-B/32-"
        f"shaped encoder, codec {results['codec']}, {results['bandwidth_mbps']:g} Mbit/s and "
        f"{results['rtt_ms']:g} ms RTT per device. Device cost measured on the live server: "
        f"c(l) = {1000 * fit['a_s_per_layer']:.2f} ms * l + {1000 * fit['b_s']:.2f} ms "
        f"(R^2 {fit['r2']:.3f}). gdm trained {sizes['steps']} steps on the exact equilibrium's "
        "16 best prices, deciding best-of-32 with 10 denoising steps.",
        "",
        "| pricing | price | server utility | layers on device (mean) | server compute per "
        "round | vs all-server | throughput | end-to-end mean / p95 | within budget | "
        "crossed replies |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, e in results["pricings"].items():
        lines.append(
            f"| {name} | {e['price_mean']:.3f} | {e['server_utility_mean']:.2f} | "
            f"{e['layers_on_device_per_device']:.1f} | "
            f"{1000 * e['server_compute_per_round_s']:.0f} ms | "
            f"{e['server_load_vs_all_server']:.2f}x | {e['throughput_rps']:.1f} req/s | "
            f"{e['end_to_end_mean_ms']:.0f} / {e['end_to_end_p95_ms']:.0f} ms | "
            f"{100 * e['within_budget_rate']:.0f} % | {e['mismatches']} |"
        )
    lines += [
        "",
        "Server compute per round: the server's own compute summed over one request from every "
        "device. End-to-end: the device's compute (measured alone: each device has its own "
        "hardware) plus its measured round trip under everyone's load. Within budget: measured "
        "device compute <= the device's C_n.",
        "",
        "![closed loop](closed_loop.png)",
        "",
    ]
    return "\n".join(lines)
