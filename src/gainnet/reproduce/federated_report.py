"""Tables, figures, ``results.json`` and ``report.md`` of ``gainnet reproduce federated``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from gainnet import reports
from gainnet.federated.config import FederationConfig

#: the issue's targets
FEDERATED_GAP_TARGET = 0.005
SELECTION_SPEEDUP_TARGET = 1.5
AUDIT_GAP_TARGET = 0.01


def _mean(values) -> float:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else math.nan


def _seconds(run: dict) -> float:
    value = run["seconds_to_target"]
    return math.inf if value is None else float(value)


def summarise_algorithms(algorithms: list[dict]) -> dict[str, Any]:
    central = _mean(r["centralised"]["ratio"] for r in algorithms)
    out = {"centralised_ratio": central, "seeds": len(algorithms)}
    for name in ("fedavg", "fedprox"):
        ratio = _mean(r[name]["final_ratio"] for r in algorithms)
        out[f"{name}_ratio"] = ratio
        out[f"{name}_p05_ratio"] = _mean(r[name]["final_p05_ratio"] for r in algorithms)
        out[f"{name}_gap_to_centralised"] = (central - ratio) / central
    out["centralised_p05_ratio"] = _mean(r["centralised"]["p05_ratio"] for r in algorithms)
    return out


def summarise_selection(selection: dict[str, list[dict]]) -> dict[str, Any]:
    out = {}
    for policy, runs in selection.items():
        seconds = [_seconds(r) for r in runs]
        out[policy] = {
            "seconds_to_target": float(np.median(seconds)),
            "mean_seconds_to_target": float(np.mean(seconds)),
            "per_seed_seconds_to_target": [None if math.isinf(s) else s for s in seconds],
            "reached": int(sum(not math.isinf(s) for s in seconds)),
            "bytes": _mean(r["bytes"] for r in runs),
            "energy_j": _mean(r["energy_j"] for r in runs),
            "final_ratio": _mean(r["final_ratio"] for r in runs),
            "declined": _mean(sum(len(x["declined"]) for x in r["rounds"]) for r in runs),
            "emulated_s": _mean(r["emulated_s"] for r in runs),
        }
    if "random" in out:
        reference = [_seconds(r) for r in selection["random"]]
        for policy, runs in selection.items():
            mine = [_seconds(r) for r in runs]
            median = out[policy]["seconds_to_target"]
            out[policy]["speedup_vs_random"] = (
                out["random"]["seconds_to_target"] / median if median > 0 else math.nan
            )
            paired = [
                a / b for a, b in zip(reference, mine, strict=True) if math.isfinite(a / b) and b
            ]
            out[policy]["paired_speedups"] = paired
            out[policy]["wins_vs_random"] = int(
                sum(b < a for a, b in zip(reference, mine, strict=True))
            )
    return out


def _honest_discarded(run: dict) -> float:
    """Honest updates left out of the aggregate per round (Krum, multi-Krum)."""
    bad = set(run["malicious_sites"])
    per_round = [
        len([s for s in r["participated"] if s not in bad and s not in r["used"]])
        for r in run["rounds"]
    ]
    return float(np.mean(per_round)) if per_round else 0.0


def summarise_malicious(malicious: dict) -> dict[str, Any]:
    def cell(runs: list[dict]) -> dict[str, Any]:
        return {
            "ratio": _mean(r["final_ratio"] for r in runs),
            "p05_ratio": _mean(r["final_p05_ratio"] for r in runs),
            "honest_excluded": float(np.mean([r["honest_excluded"] for r in runs])),
            "malicious_excluded": float(
                np.mean([len(set(r["excluded_sites"]) & set(r["malicious_sites"])) for r in runs])
            ),
            "malicious_sites": len(runs[0]["malicious_sites"]),
            "honest_updates_discarded_per_round": _mean(_honest_discarded(r) for r in runs),
        }

    table = {
        fraction: {defence: cell(runs) for defence, runs in cells.items()}
        for fraction, cells in malicious["table"].items()
    }
    others = {
        attack: {defence: cell(runs) for defence, runs in cells.items()}
        for attack, cells in malicious["others"].items()
    }
    return {"table": table, "others": others, "fraction_top": malicious["fraction_top"]}


def summarise_compression(compression: dict[str, dict]) -> dict[str, Any]:
    base = compression["none"]["up_bytes"]
    return {
        method: {
            "up_bytes": run["up_bytes"],
            "bytes": run["bytes"],
            "uplink_saved": 1.0 - run["up_bytes"] / base if base else 0.0,
            "final_ratio": run["final_ratio"],
            "seconds_to_target": run["seconds_to_target"],
        }
        for method, run in compression.items()
    }


def summarise_engines(engines: dict) -> dict[str, Any]:
    runs = engines["runs"]
    rounds = engines.get("rounds") or 1
    reference = runs["in-process"]["wall_s"]
    out = {
        name: {
            "wall_s": run["wall_s"],
            "wall_s_per_round": run["wall_s"] / rounds,
            "overhead_s_per_round": (run["wall_s"] - reference) / rounds,
            "final_ratio": run["final_ratio"],
            "max_abs_ratio_diff": run.get("max_abs_ratio_diff", 0.0),
            "same_selection": run.get("same_selection", True),
        }
        for name, run in runs.items()
    }
    if "error" in engines:
        out["error"] = engines["error"]
    return out


def write_outputs(
    out: Path,
    config: FederationConfig,
    study,
    algorithms: list[dict],
    selection: dict[str, list[dict]],
    malicious: dict,
    compression: dict[str, dict],
    engines: dict,
    quick: bool,
) -> dict:
    """Write every output file; returns ``results.json``'s dict."""
    import dataclasses

    by_scenario = {name: summarise_algorithms(rows) for name, rows in algorithms.items()}
    algo = by_scenario[config.scenario]
    sel = summarise_selection(selection)
    mal = summarise_malicious(malicious)
    comp = summarise_compression(compression)
    eng = summarise_engines(engines)
    top = f"{mal['fraction_top']:g}"
    honest = mal["table"].get("0", {}).get("none", {}).get("ratio", math.nan)
    audit_top = mal["table"].get(top, {}).get("audit", {}).get("ratio", math.nan)
    none_top = mal["table"].get(top, {}).get("none", {}).get("ratio", math.nan)
    targets = {
        "fedavg_within_0.5pct_of_centralised": algo["fedavg_gap_to_centralised"]
        <= FEDERATED_GAP_TARGET,
        "fedprox_within_0.5pct_of_centralised": algo["fedprox_gap_to_centralised"]
        <= FEDERATED_GAP_TARGET,
        "gainnet_selection_speedup_vs_random": sel.get("gainnet", {}).get("speedup_vs_random"),
        "gainnet_selection_1.5x_sooner": (
            sel.get("gainnet", {}).get("speedup_vs_random", 0) >= SELECTION_SPEEDUP_TARGET
        ),
        "audit_within_1pct_of_honest_at_top_fraction": (honest - audit_top) / honest
        <= AUDIT_GAP_TARGET,
        "fedavg_degradation_at_top_fraction": (honest - none_top) / honest,
        "flower_matches_in_process": all(
            v.get("max_abs_ratio_diff", 0.0) <= 1e-9 and v.get("same_selection", True)
            for k, v in eng.items()
            if k != "error"
        ),
    }
    results = {
        "quick": quick,
        **{k: algo[k] for k in ("centralised_ratio", "fedavg_ratio", "fedprox_ratio")},
        "algorithms": by_scenario,
        "selection": sel,
        "malicious": mal["table"],
        "malicious_other_attacks": mal["others"],
        "compression": comp,
        "engines": eng,
        "targets": targets,
        "target_ratio": config.target_ratio,
        "case_study": dataclasses.asdict(study),
        "federation": config.to_dict(),
    }
    reports.write_json(results, out / "results.json")
    reports.write_json(config.to_dict(), out / "federation.json")
    _write_csvs(out, algorithms, selection, malicious, compression, eng)
    _plot(out, config, algorithms, selection, mal)
    (out / "report.md").write_text(_markdown(config, results, quick))
    return results


def _write_csvs(out, algorithms, selection, malicious, compression, eng) -> None:
    rows = []
    for scenario, runs in algorithms.items():
        for r in runs:
            head = {"scenario": scenario, "seed": r["seed"]}
            rows.append({**head, "method": "centralised", **_pick(r["centralised"], "")})
            for name in ("fedavg", "fedprox"):
                rows.append({**head, "method": name, **_pick(r[name], "final_")})
    reports.write_csv(rows, out / "algorithms.csv")
    rows, round_rows = [], []
    for policy, runs in selection.items():
        for run in runs:
            seed = run["config"]["seed"]
            rows.append(
                {
                    "policy": policy,
                    "seed": seed,
                    "seconds_to_target": run["seconds_to_target"],
                    "bytes": run["bytes"],
                    "energy_j": run["energy_j"],
                    "final_ratio": run["final_ratio"],
                    "emulated_s": run["emulated_s"],
                }
            )
            for r in run["rounds"]:
                round_rows.append(
                    {
                        "policy": policy,
                        "seed": seed,
                        "round": r["round"],
                        "elapsed_s": r["elapsed_s"],
                        "round_s": r["round_s"],
                        "ratio": r["ratio"],
                        "selected": " ".join(map(str, r["selected"])),
                        "declined": " ".join(map(str, r["declined"])),
                    }
                )
    reports.write_csv(rows, out / "selection.csv")
    reports.write_csv(round_rows, out / "selection_rounds.csv")
    rows = []
    groups = list(malicious["table"].values()) + list(malicious["others"].values())
    for cells in groups:
        for defence, runs in cells.items():
            for run in runs:
                rows.append(
                    {
                        "attack": run["config"]["attack"],
                        "fraction": run["config"]["malicious_fraction"],
                        "defence": defence,
                        "seed": run["config"]["seed"],
                        "ratio": run["final_ratio"],
                        "honest_excluded": run["honest_excluded"],
                        "excluded": " ".join(map(str, run["excluded_sites"])),
                        "malicious": " ".join(map(str, run["malicious_sites"])),
                    }
                )
    reports.write_csv(rows, out / "malicious.csv")
    reports.write_csv(
        [
            {"method": m, **_pick(r, "final_"), "up_bytes": r["up_bytes"]}
            for m, r in compression.items()
        ],
        out / "compression.csv",
    )
    reports.write_csv(
        [{"engine": k, **v} for k, v in eng.items() if k != "error"], out / "engines.csv"
    )


def _pick(run: dict, prefix: str) -> dict:
    return {
        "ratio": run[f"{prefix}ratio"],
        "p05_ratio": run[f"{prefix}p05_ratio"],
        "feasible_rate": run[f"{prefix}feasible_rate"],
    }


def plot_time_to_target(rows: list[dict], target: float, path: Path) -> Path:
    """Ratio against emulated seconds, one line per policy, for the first seed in ``rows``
    (``selection_rounds.csv``'s rows: ``policy``, ``seed``, ``elapsed_s``, ``ratio``)."""
    seed = min(int(r["seed"]) for r in rows)
    mine = [r for r in rows if int(r["seed"]) == seed]
    lowest = min(float(r["ratio"]) for r in mine)
    with reports.figure(path) as (_, ax):
        for policy in dict.fromkeys(r["policy"] for r in mine):
            points = [
                (float(r["elapsed_s"]), float(r["ratio"])) for r in mine if r["policy"] == policy
            ]
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", ms=2, label=policy)
        ax.axhline(target, ls="--", lw=1, color="grey")
        ax.set_xscale("log")
        ax.set_ylim(max(0.5, np.floor(lowest * 100) / 100), 1.0)
        ax.set_xlabel("emulated wall-clock, s (links + devices), log scale")
        ax.set_ylabel("ratio to the expert")
        ax.set_title(f"client selection (seed {seed}): ratio after each round, target dashed")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    return path


def _plot(out, config, algorithms, selection, mal) -> None:
    rows = [
        {"policy": policy, "seed": run["config"]["seed"], **r}
        for policy, runs in selection.items()
        for run in runs
        for r in run["rounds"]
    ]
    plot_time_to_target(rows, config.target_ratio, out / "time_to_target.png")
    plot_algorithms(algorithms[config.scenario][0], out / "algorithms.png")
    plot_malicious(mal["table"], out / "malicious.png")


def plot_algorithms(row: dict, path: Path) -> Path:
    """Ratio after every round of the centralised, FedAvg and FedProx runs of one seed."""
    with reports.figure(path) as (_, ax):
        curves = {"centralised (pooled data)": row["centralised"]["curve"]}
        curves |= {
            name: [r["ratio"] for r in row[name]["rounds"]] for name in ("fedavg", "fedprox")
        }
        for label, curve in curves.items():
            ax.plot(range(1, len(curve) + 1), curve, marker="o", ms=2, label=label)
        lowest = min(min(c) for c in curves.values())
        ax.set_ylim(max(0.5, np.floor(lowest * 100) / 100), 1.0)
        ax.set_xlabel("round (local_steps optimiser steps each)")
        ax.set_ylabel("ratio to the expert")
        ax.set_title(f"non-IID sites: federated against centralised (seed {row['seed']})")
        ax.grid(alpha=0.3)
        ax.legend()
    return path


def plot_malicious(table: dict, path: Path) -> Path:
    """Mean ratio and 5th percentile per defence and fabricating fraction (``results.json``'s
    ``malicious`` table)."""
    fractions = list(table)
    defences = list(next(iter(table.values())))
    width = 0.8 / max(len(fractions), 1)
    with reports.figure(path, 1, 2, figsize=(11.0, 4.5)) as (_, axes):
        for ax, key, title in zip(
            axes, ("ratio", "p05_ratio"), ("mean ratio", "5th percentile"), strict=True
        ):
            values = [table[f][d][key] for f in fractions for d in defences]
            for j, fraction in enumerate(fractions):
                ax.bar(
                    np.arange(len(defences)) + j * width,
                    [table[fraction][d][key] for d in defences],
                    width,
                    label=f"{float(fraction):.0%} fabricating",
                )
            ax.set_xticks(np.arange(len(defences)) + width * (len(fractions) - 1) / 2, defences)
            ax.tick_params(axis="x", labelrotation=20, labelsize=8)
            ax.set_ylim(max(0.0, np.floor(min(values) * 50) / 50 - 0.02), 1.0)
            ax.set_ylabel(f"{title} of the ratio to the expert")
            ax.set_title(f"fabricated labels: {title}")
            ax.grid(alpha=0.3, axis="y")
        axes[0].legend(fontsize=8)
    return path


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "not reached"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _markdown(config: FederationConfig, results: dict, quick: bool) -> str:
    sel = results["selection"]
    n = len(config.sites)
    lines = [
        "# Federated generative training across edge sites" + (" (quick)" if quick else ""),
        "",
        f"`gdm` learns power allocation ({config.scenario}) from water-filling labels held by "
        f"{n} edge sites with different channel statistics (non-IID), {config.rounds} rounds "
        f"of {config.local_steps} local Adam steps; ratio = mean sum rate over the expert's on "
        f"a pooled held-out test set ({config.eval_instances_per_site} instances per site). "
        "Times are emulated: each site's Rayleigh-faded link (Shannon rate) and device speed.",
        "",
        "## Centralised against federated (random "
        f"{config.clients_per_round} of {n} sites per round; interference: 3 of 6)",
        "",
        "Same initial model, normaliser, minibatch, optimiser and steps per round; the "
        "centralised model trains on every site's data pooled on the server.",
        "",
        "| scenario | training | ratio | p05 | gap to centralised | seeds |",
        "|---|---|---|---|---|---|",
    ]
    for scenario, algo in results["algorithms"].items():
        lines.append(
            f"| {scenario} | centralised (pooled data) | {_fmt(algo['centralised_ratio'])} | "
            f"{_fmt(algo['centralised_p05_ratio'])} | - | {algo['seeds']} |"
        )
        for name in ("fedavg", "fedprox"):
            lines.append(
                f"| {scenario} | {name} | {_fmt(algo[f'{name}_ratio'])} | "
                f"{_fmt(algo[f'{name}_p05_ratio'])} | "
                f"{algo[f'{name}_gap_to_centralised']:.2%} | {algo['seeds']} |"
            )
    lines += [
        "",
        f"## Client selection: time to {config.target_ratio} of the expert",
        "",
        "Median over seeds of the emulated seconds to reach the target; speed-up = random's "
        "median over the policy's; wins = seeds on which it beat random.",
        "",
        "| policy | seconds to target | mean | reached | speed-up vs random | wins | MB | "
        "energy J | final ratio | declined |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    seeds = len(next(iter(sel.values()))["per_seed_seconds_to_target"])
    for policy, row in sel.items():
        lines.append(
            f"| {policy} | {_fmt(row['seconds_to_target'], 1)} | "
            f"{_fmt(row['mean_seconds_to_target'], 1)} | {row['reached']}/{seeds} | "
            f"{_fmt(row.get('speedup_vs_random'), 2)} | {row.get('wins_vs_random', '-')} | "
            f"{row['bytes'] / 1e6:.1f} | {_fmt(row['energy_j'], 1)} | "
            f"{_fmt(row['final_ratio'])} | {_fmt(row['declined'], 1)} |"
        )
    lines += ["", "![time to target](time_to_target.png)", ""]
    lines += _malicious_markdown(results)
    lines += [
        "",
        "## Update compression (uplink)",
        "",
        "| compression | uplink MB | saved | final ratio |",
        "|---|---|---|---|",
    ]
    for method, row in results["compression"].items():
        lines.append(
            f"| {method} | {row['up_bytes'] / 1e6:.2f} | {row['uplink_saved']:.0%} | "
            f"{_fmt(row['final_ratio'])} |"
        )
    lines += ["", "## Engines (same federation, same seed)", ""]
    eng = results["engines"]
    if "error" in eng:
        lines.append(f"Flower could not run: {eng['error']}")
    lines += [
        "| engine | wall s | s per round | overhead s per round | max abs ratio difference |",
        "|---|---|---|---|---|",
    ]
    for name, row in eng.items():
        if name == "error":
            continue
        lines.append(
            f"| {name} | {row['wall_s']:.1f} | {row['wall_s_per_round']:.2f} | "
            f"{row['overhead_s_per_round']:.2f} | {row['max_abs_ratio_diff']:.1e} |"
        )
    lines += ["", "## Targets", ""]
    for key, value in results["targets"].items():
        lines.append(f"- {key}: {_fmt(value, 3)}")
    return "\n".join(lines) + "\n"


def _malicious_markdown(results: dict) -> list[str]:
    table = results["malicious"]
    lines = [
        "## Malicious sites (every site trains every round)",
        "",
        "Ratio to the expert (honest sites wrongly excluded in brackets) with a share of sites "
        "fabricating labels; the audit spot-checks each site's claimed labels with the exact "
        "expert once.",
        "",
    ]
    fractions = list(table)
    defences = list(next(iter(table.values())))
    lines.append("| defence | " + " | ".join(f"{float(f):.0%}" for f in fractions) + " |")
    lines.append("|---|" + "---|" * len(fractions))
    for d in defences:
        cells = [
            f"{table[f][d]['ratio']:.4f} ({table[f][d]['honest_excluded']:g})" for f in fractions
        ]
        lines.append(f"| {d} | " + " | ".join(cells) + " |")
    lines += ["", "![defences](malicious.png)", ""]
    for attack, cells in results["malicious_other_attacks"].items():
        lines.append(
            f"- {attack}: "
            + ", ".join(
                f"{d} {c['ratio']:.4f} ({c['honest_excluded']:g})" for d, c in cells.items()
            )
        )
    return lines
