"""Seed 002's case study: an edge server learns its per-layer price against edge devices.

Fig. 4 of the seed: the server's utility while learning, for the GDM, PPO and random pricing
(mean and band over 3 seeds); Fig. 5: the final utility and the mean over the second half of
training. gainnet adds what the seed does not report: the ratio to the exact Stackelberg
equilibrium (``equilibrium`` expert) on the same held-out populations, in both information
settings, and with incomplete information the Bayes-optimal price (``bayes-price`` expert: the
best any rule can do from what the server sees), the ceiling a learner there can approach.
Every solver gets the same interaction budget (one interaction = one price set for
one population and the utility it earned); ``gdm-reward`` learns from the utility alone, like
PPO. ``feedback="improvement"`` trains both on the seed's binary reward instead (1 if the
utility rose over the previous interaction, else 0; ``gainnet.core.feedback``); evaluation is
always on the true server utility.

``run_edge_incentive`` writes ``results.json``, ``curves.csv``, ``fig4.png``, ``fig5.png`` and
``report.md`` into its output folder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from gainnet import reports
from gainnet.core.feedback import ImprovementFeedback
from gainnet.core.seeding import rng_for
from gainnet.core.solver import Budget
from gainnet.errors import GainnetError
from gainnet.registry import make_expert, make_scenario, make_solver

SOLVERS = {
    "gdm-reward": {"batch_size": 32, "warmup_steps": 50, "updates_per_step": 4},
    "ppo": {},
    "random": {},
}
SETTINGS = ("complete", "incomplete")


def _sizes(quick: bool) -> dict:
    if quick:
        return {"interactions": 16_000, "seeds": (0, 1, 2), "eval_states": 300}
    return {"interactions": 128_000, "seeds": (0, 1, 2), "eval_states": 1000}


def run_edge_incentive(
    out_dir: str | Path,
    quick: bool = False,
    seed: int = 0,
    progress: Callable[[str, float], None] | None = None,
    feedback: str = "utility",
) -> dict:
    """Run the case study; returns the ``results.json`` dict. ``progress(status, fraction)``.

    ``feedback``: ``"utility"`` (the realised server utility) or ``"improvement"`` (the seed's
    binary reward).
    """
    if feedback not in ("utility", "improvement"):
        raise GainnetError(f"feedback must be 'utility' or 'improvement', got {feedback!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sizes = _sizes(quick)
    tell = progress or (lambda status, fraction: None)
    rows: list[dict] = []
    jobs = [(s, name, k) for s in SETTINGS for name in SOLVERS for k in sizes["seeds"]]
    for index, (setting, name, k) in enumerate(jobs):
        tell(f"{setting}: {name}, seed {seed + k}", index / len(jobs))
        rows += _learning_curve(setting, name, seed + k, sizes, feedback)
    results = _summarise(rows, sizes, seed) | {"feedback": feedback}
    tell("incomplete: Bayes-optimal price", 1.0)
    results["settings"]["incomplete"] |= _bayes_ceiling([seed + k for k in sizes["seeds"]], sizes)
    _write(out, rows, results)
    tell("done", 1.0)
    return results


def _learning_curve(setting: str, name: str, seed: int, sizes: dict, feedback: str) -> list[dict]:
    scenario = make_scenario("stackelberg-split", preset="seed002", information=setting)
    state, optimum = _held_out(scenario, seed, sizes)
    trained_on = ImprovementFeedback(scenario) if feedback == "improvement" else scenario
    solver = make_solver(name, trained_on, seed=seed, **SOLVERS[name])
    per_step = int(getattr(solver.config, "batch_size", 1)) if name == "gdm-reward" else 1
    rows: list[dict] = []

    def record(step: int) -> None:
        utility = float(scenario.utility(state, solver.decide(state)).mean())
        rows.append(
            {
                "setting": setting,
                "solver": name,
                "seed": seed,
                "interactions": step * per_step,
                "server_utility": utility,
                "optimum": optimum,
                "ratio": utility / optimum,
            }
        )

    record(0)
    if name != "random":
        solver.fit(
            Budget(steps=sizes["interactions"] // per_step),
            callback=lambda info: record(info.step),
        )
    record(sizes["interactions"] // per_step)
    if name == "random":  # no learning: the same line across the budget
        rows[-1]["interactions"] = sizes["interactions"]
    return rows


def _held_out(scenario, seed: int, sizes: dict):
    """A seed's held-out populations and the exact equilibrium's mean utility on them."""
    state = scenario.sample(sizes["eval_states"], rng_for(seed, "eval"))
    return state, float(scenario.utility(state, scenario.default_expert().solve(state)).mean())


def _bayes_ceiling(seeds: list[int], sizes: dict) -> dict:
    """``bayes-price`` on each seed's held-out populations: utility and ratio, as the solvers'."""
    scenario = make_scenario("stackelberg-split", preset="seed002", information="incomplete")
    bayes = make_expert("bayes-price", scenario)
    utilities, ratios = [], []
    for seed in seeds:
        state, optimum = _held_out(scenario, seed, sizes)
        utilities.append(float(scenario.utility(state, bayes.solve(state)).mean()))
        ratios.append(utilities[-1] / optimum)
    return {"bayes_utility": float(np.mean(utilities)), "bayes_ratio": float(np.mean(ratios))}


def _summarise(rows: list[dict], sizes: dict, seed: int) -> dict:
    half = sizes["interactions"] / 2
    summary: dict = {
        "interactions": sizes["interactions"],
        "seeds": [seed + k for k in sizes["seeds"]],
        "eval_states": sizes["eval_states"],
        "settings": {},
    }
    for setting in SETTINGS:
        entry = {}
        for name in SOLVERS:
            runs = [r for r in rows if r["setting"] == setting and r["solver"] == name]
            finals, second_half = [], []
            for s in summary["seeds"]:
                mine = [r for r in runs if r["seed"] == s]
                finals.append(mine[-1])
                second_half.append(
                    np.mean([r["server_utility"] for r in mine if r["interactions"] >= half])
                )
            entry[name] = {
                "interactions_to_stay_above_0.9": [
                    _settle(([r for r in runs if r["seed"] == s]), 0.9, 0.85)
                    for s in summary["seeds"]
                ],
                "final_utility_mean": float(np.mean([r["server_utility"] for r in finals])),
                "final_utility_std": float(np.std([r["server_utility"] for r in finals])),
                "final_ratio_mean": float(np.mean([r["ratio"] for r in finals])),
                "final_ratio_min": float(np.min([r["ratio"] for r in finals])),
                "second_half_utility_mean": float(np.mean(second_half)),
            }
        entry["optimum_utility"] = float(
            np.mean([r["optimum"] for r in rows if r["setting"] == setting])
        )
        summary["settings"][setting] = entry
    return summary


def _settle(curve: list[dict], level: float, floor: float) -> int | None:
    """First interaction count where the ratio reaches ``level`` and never again drops below
    ``floor``; ``None`` if it never does."""
    for i, row in enumerate(curve):
        if row["ratio"] >= level and all(r["ratio"] >= floor for r in curve[i:]):
            return int(row["interactions"])
    return None


def _write(out: Path, rows: list[dict], results: dict) -> None:
    reports.write_csv(rows, out / "curves.csv")
    reports.write_json(results, out / "results.json")
    _figures(out, rows, results)
    (out / "report.md").write_text(_report(results))


def _figures(out: Path, rows: list[dict], results: dict) -> None:
    fig4 = "Fig. 4: learning the layer price (mean and min-max band over 3 seeds)"
    with reports.figure(out / "fig4.png", 1, 2, (10, 3.8), title=fig4, sharey=True) as (_, axes):
        _fig4(axes, rows, results)
    with reports.figure(out / "fig5.png", figsize=(7, 3.6)) as (_, ax):
        _fig5(ax, results)


def _fig4(axes, rows: list[dict], results: dict) -> None:
    for ax, setting in zip(axes, SETTINGS, strict=True):
        for name in SOLVERS:
            runs = [r for r in rows if r["setting"] == setting and r["solver"] == name]
            grid = sorted({r["interactions"] for r in runs})
            curves = []
            for s in results["seeds"]:
                mine = [r for r in runs if r["seed"] == s]
                xs = [r["interactions"] for r in mine]
                curves.append(np.interp(grid, xs, [r["server_utility"] for r in mine]))
            curves = np.array(curves)
            line = ax.plot(grid, curves.mean(0), label=name)
            ax.fill_between(
                grid, curves.min(0), curves.max(0), alpha=0.2, color=line[0].get_color()
            )
        ax.axhline(
            results["settings"][setting]["optimum_utility"],
            color="k",
            ls="--",
            lw=1,
            label="exact equilibrium",
        )
        if "bayes_utility" in results["settings"][setting]:
            ax.axhline(
                results["settings"][setting]["bayes_utility"],
                color="0.4",
                ls=":",
                lw=1.2,
                label="Bayes-optimal price (what the server sees)",
            )
        ax.set_title(f"{setting} information")
        ax.set_xlabel("interactions (price, utility) pairs")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("server utility (held-out mean)")
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=8)


def _fig5(ax, results: dict) -> None:
    width, names = 0.2, list(SOLVERS)
    for i, setting in enumerate(SETTINGS):
        entry = results["settings"][setting]
        for j, name in enumerate(names):
            x = i + (j - 1) * width
            ax.bar(
                x,
                entry[name]["final_utility_mean"],
                width * 0.9,
                color=f"C{j}",
                label=name if i == 0 else None,
            )
            ax.bar(x, entry[name]["second_half_utility_mean"], width * 0.9, fill=False, hatch="//")
        ax.hlines(
            entry["optimum_utility"], i - 1.6 * width, i + 1.6 * width, colors="k", linestyles="--"
        )
        if "bayes_utility" in entry:
            ax.hlines(
                entry["bayes_utility"], i - 1.6 * width, i + 1.6 * width, colors="0.4", ls=":"
            )
    ax.set_xticks(range(len(SETTINGS)), [f"{s} information" for s in SETTINGS])
    ax.set_ylabel("server utility")
    ax.set_title(
        "Fig. 5: final utility (bars), mean over the second half (hatched), equilibrium (dashed), "
        "Bayes-optimal price (dotted)",
        fontsize=9,
    )
    ax.legend(fontsize=8)


def _report(results: dict) -> str:
    lines = [
        "# Edge incentive (seed 002): learning the per-layer price",
        "",
        f"Feedback: {results['feedback']}. "
        f"{results['interactions']:,} interactions per solver, seeds {results['seeds']}, "
        f"{results['eval_states']} held-out populations; ratios are to the exact Stackelberg "
        "equilibrium with complete information on the same populations.",
        "",
        "| information | solver | final utility (mean ± std) "
        "| ratio to equilibrium (mean, worst seed) | mean over 2nd half |",
        "|---|---|---|---|---|",
    ]
    for setting, entry in results["settings"].items():
        for name in SOLVERS:
            e = entry[name]
            final = f"{e['final_utility_mean']:.3f} ± {e['final_utility_std']:.3f}"
            ratio = f"{e['final_ratio_mean']:.4f}, {e['final_ratio_min']:.4f}"
            lines.append(
                f"| {setting} | {name} | {final} | {ratio} | {e['second_half_utility_mean']:.3f} |"
            )
        if "bayes_utility" in entry:
            lines.append(
                f"| {setting} | Bayes-optimal price (ceiling) | {entry['bayes_utility']:.3f} "
                f"| {entry['bayes_ratio']:.4f} | |"
            )
        lines.append(f"| {setting} | exact equilibrium | {entry['optimum_utility']:.3f} | 1 | |")
    lines += ["", "![Fig. 4](fig4.png)", "", "![Fig. 5](fig5.png)", ""]
    return "\n".join(lines)
