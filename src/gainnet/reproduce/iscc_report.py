"""The outputs of ``gainnet reproduce iscc``: CSVs, figures and report.md (see
:mod:`gainnet.reproduce.iscc` for what is measured)."""

from __future__ import annotations

from pathlib import Path

from gainnet import reports

#: the solvers of the matching curve: column prefix in ``matching.csv`` and label
CURVE = {
    "gdm": "gdm (best-of-8, local search)",
    "greedy": "greedy",
    "greedy_local_search": "greedy + local search",
    "random_restarts_local_search": "random restarts + local search (best-of-8)",
    "equal_priority": "equal priority",
    "milp_short": "MILP stopped at the label limit",
}
PHASES = ("before failure", "after failure", "after retraining")


def write_outputs(out: Path, results: dict, rounds: list[dict]) -> None:
    reports.write_csv([results["slot"]], out / "slot.csv")
    reports.write_csv(results["matching"]["sizes"], out / "matching.csv")
    reports.write_csv(rounds, out / "rounds.csv")
    reports.write_json(results, out / "results.json")
    _utility_over_time(out / "utility_over_time.png", rounds, results["case_timelines"])
    quality_vs_time(out / "quality_vs_time.png", results["matching"]["sizes"])
    (out / "report.md").write_text(report(results))


def _utility_over_time(path: Path, rounds: list[dict], timelines: dict) -> None:
    cases = list(timelines)
    with reports.figure(path, ncols=len(cases), figsize=(6 * len(cases), 4)) as (_, axes):
        for ax, case in zip(list(axes) if len(cases) > 1 else [axes], cases, strict=True):
            mine = [r for r in rounds if r["case"] == case]
            for solver, style in (
                ("milp", "k--"),
                ("gdm", "C0-"),
                ("random restarts + local search", "C4-"),
                ("greedy + local search", "C2-"),
                ("greedy", "C1-"),
                ("equal priority", "C3:"),
            ):
                these = [r for r in mine if r["solver"] == solver]
                ax.plot([r["round"] for r in these], [r["utility"] for r in these], style,
                        label=solver, lw=1.5)  # fmt: skip
            timeline = timelines[case]
            ax.axvline(timeline["failure_round"] - 0.5, color="grey", lw=1)
            top = ax.get_ylim()[1]
            ax.annotate(f"node {timeline['failed_node']} fails",
                        (timeline["failure_round"] - 0.4, top), va="top", fontsize=8)  # fmt: skip
            if timeline["recovered_at_round"] is not None:
                ax.axvline(timeline["recovered_at_round"] - 0.5, color="C3", lw=1, ls=":")
                ax.annotate("retrained gdm deployed", (timeline["recovered_at_round"] - 0.4,
                            ax.get_ylim()[0]), va="bottom", fontsize=8, color="C3")  # fmt: skip
            ax.set_title(f"{case}: R = {timeline['requests']}, S = {timeline['num_nodes']}")
            ax.set_xlabel("round (served batch of slots)")
            ax.set_ylabel("mean value served per slot")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="lower left")


def quality_vs_time(path: Path, sizes: list[dict]) -> None:
    """Each solver's ratio to the MILP against its decision time, one point per size."""
    with reports.figure(path, figsize=(7, 4.5)) as (_, ax):
        for i, (key, label) in enumerate(CURVE.items()):
            ax.plot([1e3 * s[f"{key}_seconds"] for s in sizes], [s[f"{key}_ratio"] for s in sizes],
                    "o-", color=f"C{i}", label=label)  # fmt: skip
        ax.plot([1e3 * s["milp_seconds"] for s in sizes], [1.0] * len(sizes), "ks--",
                label="MILP (HiGHS): the reference")  # fmt: skip
        for s in sizes:
            ax.annotate(f"{s['R']}x{s['S']}", (1e3 * s["gdm_seconds"], s["gdm_ratio"]),
                        fontsize=7, textcoords="offset points", xytext=(3, -9))  # fmt: skip
            ax.annotate(f"{s['R']}x{s['S']}", (1e3 * s["milp_seconds"], 1.0), fontsize=7,
                        textcoords="offset points", xytext=(3, 4))  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("decision time per slot (ms, log scale)")
        ax.set_ylabel("value / MILP's value (same slots)")
        ax.set_title("iscc-matching: quality versus decision time (labels: R x S)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8, loc="lower right")


def _f(x, digits: int = 4) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def report(results: dict) -> str:
    slot, matching = results["slot"], results["matching"]
    quick = " --quick" if results["quick"] else ""
    lines = [
        "# ISCC orchestration (GainNet, seed 001)",
        "",
        f"{'Quick' if results['quick'] else 'Full'} run, seed {results['seed']}. Regenerate "
        f"with `gainnet reproduce iscc{quick}`. Every ratio is to the exact or best-known "
        "expert on the same instances.",
        "",
        f"## One slot (`iscc-slot`, preset {slot['preset']}, K = {slot['num_users']} users)",
        "",
        "| solver | ratio to iscc-kkt | 5th percentile | feasible | ms per slot (batched) |",
        "|---|---|---|---|---|",
        f"| gdm (best-of-16, {slot['train_steps']} steps) | {_f(slot['gdm_ratio'], 5)} | "
        f"{_f(slot['gdm_p05_ratio'])} | {_f(slot['gdm_feasible_rate'], 3)} | "
        f"{_f(slot['gdm_ms_per_instance'], 3)} |",
        f"| iscc-kkt (exact) | 1 | 1 | 1.000 | {_f(slot['expert_ms_per_instance'], 3)} |",
        f"| equal split | {_f(slot['uniform_ratio'])} | | | |",
        "",
        "## The matching (`iscc-matching`): quality versus decision time",
        "",
        f"HiGHS gets at most {matching['milp_limit_s']:g} s per slot; where that stops it before "
        "it proves optimality (`proven` < 1) its answer is best-known, and the LP bound says how "
        "far from optimal it can be. gdm learns from MILP labels with at most "
        f"{matching['label_limit_s']:g} s each.",
        "",
        "| R x S | MILP s | proven | gap to LP bound | gdm ratio (p05) | gdm ms | "
        "random restarts + local search (ms) | greedy + local search | greedy | equal priority | "
        "MILP at the label limit (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in matching["sizes"]:
        lines.append(
            f"| {s['R']} x {s['S']} | {s['milp_seconds']:.2f} | {s['milp_proven_rate']:.2f} | "
            f"{100 * s['milp_gap_to_lp_bound']:.2f} % | {_f(s['gdm_ratio'])} "
            f"({_f(s['gdm_p05_ratio'], 3)}) | {1e3 * s['gdm_seconds']:.1f} | "
            f"{_f(s['random_restarts_local_search_ratio'])} "
            f"({1e3 * s['random_restarts_local_search_seconds']:.1f}) | "
            f"{_f(s['greedy_local_search_ratio'])} | {_f(s['greedy_ratio'])} | "
            f"{_f(s['equal_priority_ratio'])} | {_f(s['milp_short_ratio'])} "
            f"({s['milp_short_seconds']:.2f}) |"
        )
    lines += ["", "![quality versus time](quality_vs_time.png)", ""]
    for case, phases in results["case_studies"].items():
        timeline = results["case_timelines"][case]
        recovered = timeline["recovered_at_round"]
        lines += [
            f"## Case study: {timeline['title']}",
            "",
            f"R = {timeline['requests']} requests per slot over S = {timeline['num_nodes']} "
            f"nodes; node {timeline['failed_node']} fails at round {timeline['failure_round']}; "
            + (
                f"the retrained gdm serves from round {recovered}."
                if recovered is not None
                else "no retrained gdm was promoted in this run."
            ),
            "",
            "| phase | solver | ratio to MILP | deadline-miss rate | feasible | ms per slot |",
            "|---|---|---|---|---|---|",
        ]
        for phase in PHASES:
            for solver, m in phases.get(phase, {}).items():
                lines.append(
                    f"| {phase} | {solver} | {_f(m['ratio'])} | {_f(m['miss_rate'], 3)} | "
                    f"{_f(m['feasible_rate'], 3)} | {_f(m['ms_per_decision'], 2)} |"
                )
        lines.append("")
    lines += ["![utility over time](utility_over_time.png)", ""]
    return "\n".join(lines) + "\n"
