"""The AIGX case study (seed 003): the virtuous interactive cycle in power allocation.

T1 (good weather, ``aigx-t1`` channels): the GDM is trained from water-filling labels and
serves. T2 (the rainstorm, ``aigx-t2``): the T1 model keeps serving and degrades. T3: the cycle
detects the drift, labels T2 channels with the expert, retrains and redeploys. SAC, equal power
("average") and water-filling (the optimum) are scored on exactly the same served states; SAC
gets, at the trigger, as many T2 environment steps as the GDM got expert labels.

``run_aigx`` writes ``results.json``, ``rounds.csv``, ``snr_sweep.csv``, ``timeline.png`` and
``report.md`` into its output folder.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gainnet import reports
from gainnet.continual.cycle import Cycle, CycleConfig, Phase
from gainnet.continual.metrics import summarise
from gainnet.core.seeding import rng_for
from gainnet.core.solver import Budget
from gainnet.registry import make_scenario, make_solver

SEED_FIGURES = {"t1_gain_over_average": 0.188, "virtuous_gain": {"gdm": 0.151, "sac": 0.089}}
SNR_GRID = (0.05, 0.1, 0.224, 0.5, 1.0, 1.32, 3.0, 10.0, 30.0)


def _sizes(quick: bool) -> dict:
    if quick:
        return {
            "t1_rounds": 4,
            "t2_rounds": 8,
            "sac_t1_steps": 1500,
            "cycle": {
                "decisions_per_round": 100,
                "initial_labels": 5000,
                "initial_steps": 1200,
                "labels_per_retrain": 1000,
                "retrain_steps": 1000,
                "drift_window": 200,
                "holdout": 300,
                "solver_params": {"hidden": 96},
            },
        }
    return {"t1_rounds": 10, "t2_rounds": 30, "sac_t1_steps": 8000, "cycle": {}}


def optimal_gain_over_average(preset: str, power_w: float, instances: int = 5000) -> float:
    """How much water-filling beats equal power at total power ``power_w`` (N0 = 1 W)."""
    scenario = make_scenario("power-allocation", preset=preset, total_power_w=power_w)
    state = scenario.sample(instances, rng_for(0, "eval"))
    best = scenario.utility(state, scenario.default_expert().solve(state)).mean()
    equal = scenario.utility(state, make_solver("uniform", scenario).decide(state)).mean()
    return float(best / equal - 1)


def run_aigx(
    out_dir: str | Path,
    quick: bool = False,
    seed: int = 0,
    progress: Callable[[str, float], None] | None = None,
) -> dict:
    """Run the case study; returns the ``results.json`` dict. ``progress(status, fraction)``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sizes = _sizes(quick)
    tell = progress or (lambda status, fraction: None)
    database = out / "cycle.sqlite"
    for stale in (database, *out.glob("models/*.safetensors")):
        stale.unlink(missing_ok=True)  # a fresh run, not a resumed one
    config = CycleConfig(
        phases=(
            Phase("T1", sizes["t1_rounds"], "aigx-t1"),
            Phase("T2", sizes["t2_rounds"], "aigx-t2"),
        ),
        database=str(database),
        seed=seed,
        **sizes["cycle"],
    )
    cycle = Cycle(config)
    t1, t2 = cycle.scenarios
    tell("training SAC on T1", 0.0)
    sac = make_solver("sac", t1, seed=seed)
    sac.fit(Budget(steps=sizes["sac_t1_steps"]))
    uniform = make_solver("uniform", t1)
    expert = t1.default_expert()

    rows, reports, sac_retrained_at = [], [], None
    tell("training the GDM on T1 labels", 0.05)
    for report in cycle:
        reports.append(report)
        scenario = cycle.scenarios[0 if report.phase == "T1" else 1]
        state = cycle.last_state
        rows.append(
            {
                "round": report.round,
                "phase": report.phase,
                "gdm": report.served_utility,
                "sac": float(scenario.utility(state, sac.decide(state)).mean()),
                "average": float(scenario.utility(state, uniform.decide(state)).mean()),
                "optimum": float(scenario.utility(state, expert.solve(state)).mean()),
                "triggered": report.triggered,
                "promoted": report.promoted,
            }
        )
        if report.triggered and report.phase == "T2" and sac_retrained_at is None:
            sac.set_scenario(t2)  # the same T3 budget: one environment step per expert label
            sac.fit(Budget(steps=config.labels_per_retrain))
            sac_retrained_at = report.round
        tell(
            f"round {report.round + 1}/{cycle.total_rounds}",
            0.1 + 0.85 * (report.round + 1) / cycle.total_rounds,
        )

    promoted_rounds = [r["round"] for r in rows if r["promoted"] and r["phase"] == "T2"]
    t3_start = (promoted_rounds[0] + 1) if promoted_rounds else None
    periods = {
        "T1": [r for r in rows if r["phase"] == "T1"],
        "T2": [
            r for r in rows if r["phase"] == "T2" and (t3_start is None or r["round"] < t3_start)
        ],
        "T3": [r for r in rows if t3_start is not None and r["round"] >= t3_start],
    }

    def mean(period, key):
        return (
            float(np.mean([r[key] for r in periods[period]])) if periods[period] else float("nan")
        )

    ratio = {
        p: {s: mean(p, s) / mean(p, "optimum") for s in ("gdm", "sac", "average")} for p in periods
    }
    summaries = summarise(reports, config)
    tell("SNR sweep", 0.95)
    sweep = [
        {
            "power_over_noise": snr,
            "t1_optimal_gain_over_average": optimal_gain_over_average("aigx-t1", snr),
            "t2_optimal_gain_over_average": optimal_gain_over_average("aigx-t2", snr),
        }
        for snr in SNR_GRID
    ]
    results = {
        "quick": quick,
        "seed": seed,
        "power_over_noise": t1.params.total_power_w / t1.params.noise_power_w,
        "t1_gain_over_average": mean("T1", "gdm") / mean("T1", "average") - 1,
        "t1_optimal_gain_over_average": mean("T1", "optimum") / mean("T1", "average") - 1,
        "virtuous_gain": {
            s: (mean("T3", s) / mean("T3", "average") - 1) for s in ("gdm", "sac", "optimum")
        },
        "ratio_to_optimum": ratio,
        "detection_delay": summaries[1].detection_delay if len(summaries) > 1 else None,
        "labels_used": summaries[1].labels_used if len(summaries) > 1 else 0,
        "retrain_seconds": summaries[1].retrain_seconds if len(summaries) > 1 else 0.0,
        "t3_starts_at_round": t3_start,
        "sac_retrained_at_round": sac_retrained_at,
        "phases": [dataclasses.asdict(s) for s in summaries],
        "seed_figures": SEED_FIGURES,
        "snr_sweep": sweep,
    }
    _write(out, rows, sweep, results, config)
    tell("done", 1.0)
    return results


def _write(
    out: Path, rows: list[dict], sweep: list[dict], results: dict, config: CycleConfig
) -> None:
    reports.write_csv(rows, out / "rounds.csv")
    reports.write_csv(sweep, out / "snr_sweep.csv")
    reports.write_json(results, out / "results.json")
    _timeline(out / "timeline.png", rows, results)
    (out / "report.md").write_text(_report(results, config))


def _timeline(path: Path, rows: list[dict], results: dict) -> None:
    with reports.figure(path, figsize=(8, 4.5)) as (_, ax):
        _draw_timeline(ax, rows, results)


def _draw_timeline(ax, rows: list[dict], results: dict) -> None:
    rounds = [r["round"] for r in rows]
    for key, label, style in (
        ("optimum", "optimum (water-filling)", "k--"),
        ("gdm", "GDM", "C0-"),
        ("sac", "SAC", "C1-"),
        ("average", "average (equal power)", "C2-"),
    ):
        ax.plot(rounds, [r[key] for r in rows], style, label=label, lw=1.5)
    onset = next(r["round"] for r in rows if r["phase"] == "T2")
    ax.axvspan(rounds[0] - 0.5, onset - 0.5, color="C0", alpha=0.06)
    ax.axvline(onset - 0.5, color="grey", lw=1)
    ax.annotate("T2: rainstorm", (onset - 0.3, ax.get_ylim()[1]), va="top", fontsize=8)
    if results["t3_starts_at_round"] is not None:
        ax.axvline(results["t3_starts_at_round"] - 0.5, color="C3", lw=1, ls=":")
        ax.annotate(
            "T3: retrained GDM deployed",
            (results["t3_starts_at_round"] - 0.3, ax.get_ylim()[0]),
            va="bottom",
            fontsize=8,
            color="C3",
        )
    ax.set_xlabel("round (served batch)")
    ax.set_ylabel("mean sum rate (bit/s/Hz)")
    ax.set_title(f"AIGX virtuous cycle at P/N0 = {results['power_over_noise']:.3g}")
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(alpha=0.3)


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _report(results: dict, config: CycleConfig) -> str:
    r, ratio = results, results["ratio_to_optimum"]
    vg = r["virtuous_gain"]
    lines = [
        "# AIGX case study: the virtuous interactive cycle",
        "",
        f"{'Quick' if r['quick'] else 'Full'} run, seed {r['seed']}, "
        f"P/N0 = {r['power_over_noise']:.3g}, "
        f"{config.decisions_per_round} decisions per round. Regenerate with "
        f"`gainnet reproduce aigx{' --quick' if r['quick'] else ''}`.",
        "",
        "| metric | gainnet | seed paper |",
        "|---|---|---|",
        f"| GDM gain over average, end of T1 | {_pct(r['t1_gain_over_average'])} | 18.8 % |",
        f"| optimum's gain over average, T1 | {_pct(r['t1_optimal_gain_over_average'])} | - |",
        f"| virtuous gain after retraining, GDM | {_pct(vg['gdm'])} | 15.1 % |",
        f"| virtuous gain after retraining, SAC | {_pct(vg['sac'])} | 8.9 % |",
        f"| virtuous gain of the optimum | {_pct(vg['optimum'])} | - |",
        f"| drift detected after | {r['detection_delay']} decisions | - |",
        f"| expert labels for the recovery | {r['labels_used']} | - |",
        f"| retraining | {r['retrain_seconds']:.1f} s | - |",
        "",
        "Ratio to the optimum (mean rate / water-filling's mean rate on the same states):",
        "",
        "| period | GDM | SAC | average |",
        "|---|---|---|---|",
    ]
    for period, values in ratio.items():
        lines.append(
            f"| {period} | "
            + " | ".join(f"{values[k]:.4f}" for k in ("gdm", "sac", "average"))
            + " |"
        )
    lines += [
        "",
        "![rate over time](timeline.png)",
        "",
        "## Why our figures differ from the seed's",
        "",
        "With the seed's rate formula the optimum itself beats equal power by 18.8 % on T1",
        "channels only at P/N0 ~= 0.224, which this run uses; at higher SNR every gain shrinks",
        "(below). At this SNR the optimum beats equal power by "
        f"{_pct(vg['optimum'])} on T2 channels, so the seed's T3 figures (15.1 % GDM, 8.9 % SAC)",
        "cannot come from the same SNR as its T1 figure: with this formula they sit far below",
        "what the optimum allows. We report what the optimum and our solvers reach instead of",
        "matching the seed's numbers.",
        "",
        "| P/N0 | optimal gain over average, T1 | T2 |",
        "|---|---|---|",
    ]
    for row in r["snr_sweep"]:
        lines.append(
            f"| {row['power_over_noise']:g} | {_pct(row['t1_optimal_gain_over_average'])} | "
            f"{_pct(row['t2_optimal_gain_over_average'])} |"
        )
    return "\n".join(lines) + "\n"
