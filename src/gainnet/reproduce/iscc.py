"""GainNet's ISCC orchestration (seed 001) measured: one slot, the matching, two case studies.

The seed describes GaiRom-ISCC's resource pools and matching but publishes no formulation or
numbers; this case study runs what :doc:`docs/iscc.md` makes concrete and scores every solver
against the exact or best-known expert on the same instances:

1. **slot** (``iscc-slot``, preset ``dense-cell``, K = 20): ``gdm`` (best-of-16) against the exact
   ``iscc-kkt``; the expert's batched time per slot.
2. **matching** (``iscc-matching``) per size ``R x S``: HiGHS's MILP (time-limited: its answer
   is then best-known, with the LP bound beside it) against ``gdm`` trained on MILP labels and
   refined by the scenario's local search, the greedy rule alone and with the same local search,
   each with its decision time: the quality-versus-time curve.
3. **case studies** (:data:`CASES`): a stream of slots served by ``gdm`` through the retraining
   cycle (:class:`gainnet.continual.cycle.Cycle`); halfway through, one edge node fails. Per
   phase (before the failure, after it until the retrained model is promoted, after that):
   every solver's ratio to the MILP, deadline-miss rate (rejected requests: an admitted request
   meets its deadline by construction), feasibility and latency on the same slots.

``run_iscc`` writes ``results.json``, ``slot.csv``, ``matching.csv``, ``rounds.csv``,
``utility_over_time.png``, ``quality_vs_time.png`` and ``report.md``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gainnet.continual.cycle import Cycle, CycleConfig, Phase
from gainnet.core.seeding import rng_for
from gainnet.core.solver import Budget
from gainnet.evaluation import evaluate
from gainnet.registry import make_expert, make_scenario, make_solver

#: the case studies' conditions (docs/iscc.md): request mix over (summarisation, image
#: generation, sensing fusion), nodes, and the node that fails halfway
CASES = {
    "medical": {
        "title": "medical text summarisation at the edge",
        "params": {"service_mix": [8.0, 1.0, 1.0], "num_nodes": 4},
        "failed_node": 1,
    },
    "vehicular": {
        "title": "intelligent vehicles (sensing fusion, tight deadlines, 3 dB fade margin)",
        "params": {"service_mix": [1.0, 1.0, 8.0], "num_nodes": 5, "fade_margin_db": 3.0},
        "failed_node": 2,
    },
}
#: gdm's settings on the matching: best-of-8 candidates (7 with 0.2 of action noise, chosen on
#: validation slots at R = 100, S = 10), each refined by 2 local-search passes
GDM_MATCHING = {"num_samples": 8, "refine_iterations": 2, "candidate_spread": 0.2}
#: the baselines scored beside gdm on every served slot
BASELINES = (
    "milp",
    "random restarts + local search",
    "greedy + local search",
    "greedy",
    "equal priority",
    "random",
)
SOLVERS = ("gdm", *BASELINES)


def _sizes(quick: bool) -> dict:
    if quick:
        return {
            "slot": {"steps": 1500, "labels": 2048, "instances": 200},
            "matching": {"sizes": [(10, 2), (20, 3)], "labels": 192, "steps": 1500},
            "matching_test": 6,
            "milp_limit_s": 10.0,
            "label_limit_s": 1.0,
            "case_requests": 16,
            "rounds": (3, 5),
            "cycle": {"decisions_per_round": 16, "initial_labels": 192, "initial_steps": 1500,
                      "labels_per_retrain": 96, "retrain_steps": 800, "holdout": 32,
                      "drift_window": 32, "audit_window": 16},
        }  # fmt: skip
    return {
        "slot": {"steps": 6000, "labels": 8192, "instances": 500},
        "matching": {"sizes": [(20, 3), (40, 5), (60, 6), (100, 10)], "labels": 384, "steps": 6000},
        "matching_test": 8,
        "milp_limit_s": 30.0,
        "label_limit_s": 1.0,
        "case_requests": 30,
        "rounds": (6, 10),
        "cycle": {"decisions_per_round": 24, "initial_labels": 384, "initial_steps": 4000,
                  "labels_per_retrain": 192, "retrain_steps": 2000, "holdout": 48,
                  "drift_window": 48, "audit_window": 24},
    }  # fmt: skip


def run_iscc(
    out_dir: str | Path,
    quick: bool = False,
    seed: int = 0,
    progress: Callable[[str, float], None] | None = None,
) -> dict:
    """Run the three parts; returns the ``results.json`` dict. ``progress(status, fraction)``."""
    from gainnet.reproduce.iscc_report import write_outputs

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sizes = _sizes(quick)
    tell = progress or (lambda status, fraction: None)
    tell("iscc-slot: training gdm", 0.0)
    slot = slot_part(sizes["slot"], seed)
    matching = []
    for i, (r_count, s_count) in enumerate(sizes["matching"]["sizes"]):
        tell(f"iscc-matching R={r_count} S={s_count}", 0.1 + 0.4 * i / len(sizes["matching"]))
        matching.append(matching_size(r_count, s_count, sizes, seed))
    case_studies, timelines, rounds = {}, {}, []
    for i, case in enumerate(CASES):
        tell(f"case study: {case}", 0.5 + 0.45 * i / len(CASES))
        case_rounds = case_study(case, sizes, seed, out)
        case_studies[case], timelines[case] = summarise_case(case_rounds, sizes["rounds"][0])
        timelines[case] |= {"title": CASES[case]["title"], "requests": sizes["case_requests"]}
        timelines[case] |= CASES[case]["params"] | {"failed_node": CASES[case]["failed_node"]}
        rounds += case_rounds
    results = {
        "quick": quick,
        "seed": seed,
        "slot": slot,
        "matching": {
            "milp_limit_s": sizes["milp_limit_s"],
            "label_limit_s": sizes["label_limit_s"],
            "sizes": matching,
        },
        "case_studies": case_studies,
        "case_timelines": timelines,
    }
    write_outputs(out, results, rounds)
    tell("done", 1.0)
    return results


# ------------------------------------------------------------------------------------- slot
def slot_part(sizes: dict, seed: int) -> dict:
    """gdm (best-of-16) and equal split against the exact iscc-kkt on ``dense-cell`` slots
    (K = 20 users, the size of the expert's time target)."""
    scenario = make_scenario("iscc-slot", preset="dense-cell")
    gdm = make_solver("gdm", scenario, seed=seed, num_samples=16)
    budget = Budget(steps=sizes["steps"], expert_labels=sizes["labels"])
    gdm.fit(budget, expert=scenario.default_expert())
    e = evaluate(gdm, scenario, instances=sizes["instances"], seed=seed, single_repeats=10)
    uniform = evaluate(make_solver("uniform", scenario), scenario, sizes["instances"], seed, 10)
    return {
        "preset": "dense-cell",
        "num_users": scenario.params.num_users,
        "instances": sizes["instances"],
        "train_steps": sizes["steps"],
        "gdm_ratio": e.ratio,
        "gdm_p05_ratio": e.p05_ratio,
        "gdm_feasible_rate": e.feasible_rate,
        "gdm_ms_per_instance": 1e3 * e.seconds_per_decision,
        "expert_ms_per_instance": 1e3 * e.expert_seconds_per_decision,
        "uniform_ratio": uniform.ratio,
    }


# ------------------------------------------------------------------------------------- matching
def baseline_decisions(scenario, state, rng) -> dict[str, tuple[np.ndarray, float]]:
    """Every untrained baseline's decisions ``[n, R, 2]`` and its seconds per instance."""
    n = len(state)
    rules = {
        "greedy": lambda: scenario.greedy(state),
        "greedy + local search": lambda: scenario.refine(state, scenario.greedy(state), 2),
        "equal priority": lambda: scenario.decode(state, np.ones((n, scenario.action_dim))),
        "random": lambda: scenario.decode(state, rng.uniform(-1, 1, (n, scenario.action_dim))),
        "random restarts + local search": lambda: restarts(scenario, state, rng),
    }
    timed = {}
    for name, rule in rules.items():
        start = time.perf_counter()
        decision = rule()
        timed[name] = (decision, (time.perf_counter() - start) / n)
    return timed


def restarts(scenario, state, rng) -> np.ndarray:
    """gdm's search without its learning: as many random actions as gdm has candidates, each
    decoded and refined by the same local-search passes, the best kept per instance."""
    k, passes = GDM_MATCHING["num_samples"], GDM_MATCHING["refine_iterations"]
    n = len(state)
    candidates = [
        scenario.refine(
            state, scenario.decode(state, rng.uniform(-1, 1, (n, scenario.action_dim))), passes
        )
        for _ in range(k)
    ]
    value = np.stack([scenario.utility(state, c) for c in candidates])
    return np.stack(candidates)[np.argmax(value, axis=0), np.arange(n)]


def matching_size(r_count: int, s_count: int, sizes: dict, seed: int) -> dict:
    """One point of the quality-versus-time curve: MILP, gdm and the baselines at ``R x S``."""
    scenario = make_scenario("iscc-matching", num_requests=r_count, num_nodes=s_count)
    m = sizes["matching"]
    gdm = make_solver("gdm", scenario, seed=seed, num_labels=m["labels"], **GDM_MATCHING)
    labeller = make_expert("iscc-milp", scenario, time_limit_s=sizes["label_limit_s"])
    fit = gdm.fit(Budget(steps=m["steps"], expert_labels=m["labels"]), expert=labeller)
    state = scenario.sample(sizes["matching_test"], rng_for(seed, "eval"))
    milp = make_expert("iscc-milp", scenario, time_limit_s=sizes["milp_limit_s"])
    best = scenario.utility(state, milp.solve(state))
    short = scenario.utility(state, labeller.solve(state))  # HiGHS stopped at the label limit
    start = time.perf_counter()
    decision = gdm.decide(state)
    gdm_seconds = (time.perf_counter() - start) / len(state)
    ratio = scenario.utility(state, decision) / best
    row = {
        "R": r_count,
        "S": s_count,
        "instances": len(state),
        "milp_seconds": float(np.mean([r.seconds for r in milp.last])),
        "milp_proven_rate": float(np.mean([r.optimal for r in milp.last])),
        "milp_gap_to_lp_bound": float(np.mean(1 - best / [r.bound for r in milp.last])),
        "milp_short_limit_s": sizes["label_limit_s"],
        "milp_short_seconds": float(np.mean([r.seconds for r in labeller.last])),
        "milp_short_ratio": float(np.mean(short / best)),
        "gdm_seconds": gdm_seconds,
        "gdm_ratio": float(ratio.mean()),
        "gdm_p05_ratio": float(np.quantile(ratio, 0.05)),
        "gdm_feasible_rate": float(scenario.is_feasible(state, decision).mean()),
        "gdm_labels": m["labels"],
        "gdm_fit_seconds": fit.seconds,
    }
    for name in m.get("drl", ()):  # DRL with gdm's training time (labelling included)
        drl = make_solver(name, scenario, seed=seed)
        drl.fit(Budget(seconds=fit.seconds))
        start = time.perf_counter()
        d = drl.decide(state)
        row[f"{name}_seconds"] = (time.perf_counter() - start) / len(state)
        row[f"{name}_ratio"] = float(np.mean(scenario.utility(state, d) / best))
    for name, (d, seconds) in baseline_decisions(scenario, state, rng_for(seed, "random")).items():
        key = name.replace(" + ", "_").replace(" ", "_")
        row[f"{key}_ratio"] = float(np.mean(scenario.utility(state, d) / best))
        row[f"{key}_seconds"] = seconds
    return row


# ------------------------------------------------------------------------------------- cases
def case_study(case: str, sizes: dict, seed: int, out: Path) -> list[dict]:
    """The stream of one case through the retraining cycle: a row per round and solver."""
    spec = CASES[case]
    params = {**spec["params"], "num_requests": sizes["case_requests"]}
    database = out / f"cycle-{case}.sqlite"
    database.unlink(missing_ok=True)  # a fresh run, not a resumed one
    before, after = sizes["rounds"]
    config = CycleConfig(
        phases=(
            Phase("normal", before, params=params),
            Phase("node down", after, params={**params, "down_nodes": [spec["failed_node"]]}),
        ),
        scenario="iscc-matching",
        solver="gdm",
        solver_params=GDM_MATCHING,
        database=str(database),
        audit_fraction=0.25,
        gap_threshold=0.03,
        cooldown_rounds=2,
        seed=seed,
        **sizes["cycle"],
    )
    cycle = Cycle(config)
    rng = rng_for(seed, "random")
    rows = []
    for report in cycle:
        scenario = cycle.scenario_at(report.round)
        state = cycle.last_state
        n = len(state)
        decisions = {"gdm": (cycle.last_decision, cycle.last_decide_seconds / n)}
        decisions["milp"] = (cycle.last_expert_decision, cycle.last_expert_seconds / n)
        decisions.update(baseline_decisions(scenario, state, rng))
        expert_utility = scenario.utility(state, cycle.last_expert_decision)
        for name, (decision, seconds) in decisions.items():
            rows.append(
                {
                    "case": case,
                    "round": report.round,
                    "phase": report.phase,
                    "solver": name,
                    "utility": float(scenario.utility(state, decision).mean()),
                    "expert_utility": float(expert_utility.mean()),
                    "miss_rate": float((decision[..., 0] < 0).mean()),
                    "feasible_rate": float(scenario.is_feasible(state, decision).mean()),
                    "ms_per_decision": 1e3 * seconds,
                    "triggered": report.triggered,
                    "promoted": report.promoted,
                }
            )
    return rows


def summarise_case(rows: list[dict], failure_round: int) -> tuple[dict, dict]:
    """``{phase: {solver: {ratio, miss_rate, feasible_rate, ms_per_decision, rounds}}}`` (the
    ratio: mean utility over the MILP's on the same slots) and the timeline (failure and
    recovery rounds). Phases: ``before failure``, ``after failure`` (until the first promotion
    after it, inclusive) and ``after retraining``."""
    promoted = sorted({r["round"] for r in rows if r["promoted"] and r["round"] >= failure_round})
    recovered = promoted[0] + 1 if promoted else None

    def phase_of(round_index: int) -> str:
        if round_index < failure_round:
            return "before failure"
        if recovered is None or round_index < recovered:
            return "after failure"
        return "after retraining"

    summary: dict = {}
    for phase in ("before failure", "after failure", "after retraining"):
        mine = [r for r in rows if phase_of(r["round"]) == phase]
        if not mine:
            continue
        summary[phase] = {}
        for solver in SOLVERS:
            these = [r for r in mine if r["solver"] == solver]
            utility = np.mean([r["utility"] for r in these])
            summary[phase][solver] = {
                "ratio": float(utility / np.mean([r["expert_utility"] for r in these])),
                "miss_rate": float(np.mean([r["miss_rate"] for r in these])),
                "feasible_rate": float(np.mean([r["feasible_rate"] for r in these])),
                "ms_per_decision": float(np.mean([r["ms_per_decision"] for r in these])),
                "rounds": len(these),
            }
    return summary, {"failure_round": failure_round, "recovered_at_round": recovered}
