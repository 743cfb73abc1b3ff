"""Federated training of a generative solver across edge sites (seeds 000, 002, 003, 004).

``gdm`` learns power allocation from water-filling labels that live on ``N`` edge sites whose
channel statistics differ (non-IID by construction: :data:`gainnet.federated.config.SITE_PROFILES`),
each behind its own fading wireless link and on its own device. The case study measures:

1. **algorithms**: centralised training on the pooled data versus FedAvg and FedProx (random
   ``m`` of ``N`` sites per round, the same gradient steps per round as the centralised run),
   on power allocation and on interference power control;
2. **selection**: time to reach ``target_ratio`` of the expert in emulated wall-clock (links
   and devices; half the sites on an energy budget), bytes, energy and final ratio for every
   policy of :data:`gainnet.federated.config.SELECTIONS`, over several seeds (each seed
   redraws the sites' links, devices and data);
3. **malicious sites** (every site in every round, no energy budgets): ratio to the expert
   with 0, 10 and 30 % of sites fabricating labels, with every defence (none, median, trimmed
   mean, Krum, multi-Krum, gainnet's label audit), and how many honest sites each wrongly
   excluded; poisoned updates (sign flip, made-up states) at the largest fraction;
4. **compression**: int8 and top-k uplinks against float32 (bytes saved, ratio);
5. **engines**: the in-process engine against Flower's Simulation Engine (and, in the full
   run, the Deployment Engine on loopback) on one small federation: identical results and
   Flower's overhead per round.

The federation is described by a TOML file (``--config``; default: :func:`case_config`), whose
optional ``[case_study]`` table sets ``policies``, ``fractions``, ``defences``, ``attack``
and the seeds. ``run_federated`` writes ``report.md``, ``results.json``, ``federation.json``,
``algorithms.csv``, ``selection.csv``, ``selection_rounds.csv``, ``malicious.csv``,
``compression.csv``, ``engines.csv``, ``time_to_target.png``, ``algorithms.png`` and
``malicious.png``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gainnet.core.validation import Validated, setting
from gainnet.errors import GainnetError
from gainnet.federated.centralised import run_centralised
from gainnet.federated.config import (
    ATTACKS,
    SELECTIONS,
    FederationConfig,
    default_sites,
    federation_from_dict,
)
from gainnet.federated.engines import run_federation

DEFENCES = ("none", "median", "trimmed-mean", "krum", "multi-krum", "audit")


@dataclasses.dataclass(frozen=True)
class CaseStudy(Validated):
    """The ``[case_study]`` table: what the sweeps cover.

    Attributes
    ----------
    policies : tuple of str
        Selection policies compared (:data:`SELECTIONS`).
    fractions : tuple of float
        Malicious-site fractions of the defence table.
    defences : tuple of str
        :data:`DEFENCES`.
    attack : str
        The fabrication of the defence table (:data:`ATTACKS`).
    other_attacks : tuple of str
        Attacks also run at the largest fraction.
    algorithm_seeds, selection_seeds, malicious_seeds : int
        Seeds (each redraws sites' links, devices and data) averaged per table.
    deployment : bool
        Also run the Flower Deployment Engine (SuperLink + SuperNodes) in the engine check.
    interference : bool
        Also compare centralised, FedAvg and FedProx on :func:`interference_config` (only
        with the built-in federation).
    """

    policies: tuple[str, ...] = setting(SELECTIONS[1:], max_items=len(SELECTIONS))
    fractions: tuple[float, ...] = setting((0.0, 0.1, 0.3), low=0, high=0.49, max_items=10)
    defences: tuple[str, ...] = setting(DEFENCES, max_items=len(DEFENCES))
    attack: str = "wrong-labels"
    other_attacks: tuple[str, ...] = setting(("made-up-states", "sign-flip"), max_items=4)
    algorithm_seeds: int = setting(3, low=1, high=100)
    selection_seeds: int = setting(8, low=1, high=100)
    malicious_seeds: int = setting(2, low=1, high=100)
    deployment: bool = True
    interference: bool = True

    def check(self) -> None:
        for name, allowed in (("policies", SELECTIONS), ("defences", DEFENCES)):
            for value in getattr(self, name):
                if value not in allowed:
                    raise GainnetError(f"[case_study] {name}: unknown {value!r}; known {allowed}")
        for value in (self.attack, *self.other_attacks):
            if value not in ATTACKS:
                raise GainnetError(f"[case_study] unknown attack {value!r}; known {ATTACKS}")


def case_config(quick: bool, seed: int = 0) -> FederationConfig:
    """The case study's federation: 10 sites (quick: 6) of :func:`default_sites`, half of
    them on a 20 J energy budget; ``gdm`` with 128 x 3 denoiser; random 5 of 10 (quick 3 of
    6) sites per round."""
    n, labels = (6, 400) if quick else (10, 1000)
    sites = default_sites(n, labels, seed=seed)
    for i, site in enumerate(sites):
        if i % 2:
            site["energy_budget_j"] = 20.0
    return federation_from_dict(
        {
            "sites": sites,
            "rounds": 10 if quick else 30,
            "local_steps": 30 if quick else 50,
            "clients_per_round": 3 if quick else 5,
            "selection": "random",
            "round_deadline_s": 2.0,
            "eval_instances_per_site": 100 if quick else 200,
            "target_ratio": 0.98 if quick else 0.99,
            "seed": seed,
        },
        "the case study's federation",
    )


def interference_config(quick: bool, seed: int = 0) -> FederationConfig:
    """The second scenario: ``gdm`` on 5-pair interference channels (WMMSE the expert) over
    6 sites whose geometric layouts differ (area 200 / 500 / 1000 m, shadowing 4 / 8 dB)."""
    rng_sites = default_sites(6, 400 if quick else 1000, seed=seed)
    for i, site in enumerate(rng_sites):
        site["name"] = f"site{i}-area{[200, 500, 1000][i % 3]}m-shadow{[4, 8][i % 2]}dB"
        site["params"] = {
            "area_side_m": [200.0, 500.0, 1000.0][i % 3],
            "shadowing_db": [4.0, 8.0][i % 2],
        }
    return federation_from_dict(
        {
            "sites": rng_sites,
            "scenario": "interference",
            "scenario_params": {"num_users": 5, "layout": "geometric"},
            "rounds": 10 if quick else 20,
            "local_steps": 30 if quick else 50,
            "clients_per_round": 3,
            "eval_instances_per_site": 100 if quick else 200,
            "seed": seed,
        },
        "the interference federation",
    )


def without_budgets(config: FederationConfig) -> FederationConfig:
    """``config`` with every site's energy budget lifted: the algorithm, defence and
    compression comparisons keep every site able to train in every round, so that what they
    compare is not mixed with sites running out of energy (the selection comparison keeps
    the budgets: avoiding that is part of a policy's job)."""
    sites = [{**dataclasses.asdict(site), "energy_budget_j": 0.0} for site in config.sites]
    return federation_from_dict({**config.to_dict(), "sites": sites}, "the federation")


def _quick_study() -> CaseStudy:
    return CaseStudy(
        fractions=(0.0, 0.3),
        defences=("none", "median", "krum", "audit"),
        other_attacks=("sign-flip",),
        algorithm_seeds=1,
        selection_seeds=2,
        malicious_seeds=1,
        deployment=False,
    )


def load_case_study(path: str | Path) -> tuple[dict[str, Any], CaseStudy]:
    """``(federation table, case study)`` from a TOML file."""
    from gainnet.core.registry import build_params
    from gainnet.core.toml_file import read_toml

    data = read_toml(path, "federation config")

    study = build_params(CaseStudy, data.pop("case_study", {}), f"[case_study] of {path}")
    return data, study


def _with_seed(base: dict[str, Any] | None, quick: bool, seed: int) -> FederationConfig:
    if base is None:
        return case_config(quick, seed)
    return federation_from_dict({**base, "seed": seed}, "the federation config")


def run_federated(
    out_dir: str | Path,
    quick: bool = False,
    seed: int = 0,
    progress: Callable[[str, float], None] | None = None,
    config_path: str | Path | None = None,
) -> dict:
    """Run the case study; returns the ``results.json`` dict. ``progress(status, fraction)``."""
    from gainnet.reproduce.federated_report import write_outputs

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base, study = (None, _quick_study() if quick else CaseStudy())
    if config_path is not None:
        base, study = load_case_study(config_path)
    configs = {s: _with_seed(base, quick, seed + s) for s in range(_most_seeds(study))}
    config = configs[0]
    tell = progress or (lambda status, fraction: None)
    plan = _plan(study, config.rounds)
    done = [0]

    def step(status: str) -> Callable[[Any], None]:
        def on_round(_record: Any) -> None:
            done[0] += 1
            tell(status, min(done[0] / plan, 0.999))

        return on_round

    algorithms: dict[str, list[dict]] = {}
    for s in range(study.algorithm_seeds):
        scenarios = {config.scenario: without_budgets(configs[s])}
        if study.interference and config_path is None:
            scenarios["interference"] = interference_config(quick, seed + s)
        for name, cfg in scenarios.items():
            central = run_centralised(cfg, lambda r, _ratio: step("centralised")(r))
            row = {"seed": cfg.seed, "centralised": central}
            for algorithm in ("fedavg", "fedprox"):
                row[algorithm] = run_federation(
                    cfg.replace(algorithm=algorithm), on_round=step(f"{name}: {algorithm}")
                )
            algorithms.setdefault(name, []).append(row)

    selection: dict[str, list[dict]] = {p: [] for p in study.policies}
    for s in range(study.selection_seeds):
        for policy in study.policies:
            cfg = configs[s].replace(selection=policy)
            selection[policy].append(run_federation(cfg, on_round=step(f"selection: {policy}")))

    malicious = _malicious(configs, study, step)
    compression = {
        method: run_federation(
            without_budgets(config).replace(compression=method), on_round=step(method)
        )
        for method in ("none", "int8", "top-k")
    }
    tell("engines: in-process against Flower", min(done[0] / plan, 0.999))
    engines = _engines(config, study.deployment)
    results = write_outputs(
        out, config, study, algorithms, selection, malicious, compression, engines, quick
    )
    tell("done", 1.0)
    return results


def _most_seeds(study: CaseStudy) -> int:
    return max(study.algorithm_seeds, study.selection_seeds, study.malicious_seeds)


def defended(config: FederationConfig, defence: str, fraction: float, attack: str):
    """The federation with ``fraction`` of its sites running ``attack`` and ``defence`` on:
    every site trains every round (``selection = all``, no energy budgets), Krum assumes the
    true number of attackers."""
    cfg = without_budgets(config).replace(
        malicious_fraction=fraction,
        attack=attack,
        selection="all",
        clients_per_round=len(config.sites),
    )
    cfg = cfg.replace(krum_assumed_malicious=cfg.num_malicious)
    if defence == "audit":
        return cfg.replace(audit=True)
    return cfg.replace(aggregator="mean" if defence == "none" else defence)


def _malicious(configs, study: CaseStudy, step) -> dict[str, Any]:
    table: dict[str, dict[str, list[dict]]] = {}
    for fraction in study.fractions:
        cells = table.setdefault(f"{fraction:g}", {})
        for defence in study.defences:
            for s in range(study.malicious_seeds):
                cfg = defended(configs[s], defence, fraction, study.attack)
                run = run_federation(cfg, on_round=step(f"malicious {fraction:g}: {defence}"))
                cells.setdefault(defence, []).append(run)
    others: dict[str, dict[str, list[dict]]] = {}
    top = max(study.fractions)
    for attack in study.other_attacks:
        for defence in study.defences:
            cfg = defended(configs[0], defence, top, attack)
            run = run_federation(cfg, on_round=step(f"{attack}: {defence}"))
            others.setdefault(attack, {})[defence] = [run]
    return {"table": table, "others": others, "fraction_top": top}


def engine_config(config: FederationConfig) -> FederationConfig:
    """The small federation of the engine check: 4 sites, 3 rounds, audit and int8 on."""
    sites = [dataclasses.asdict(s) for s in config.sites[:4]]
    return federation_from_dict(
        {
            **config.to_dict(),
            "sites": [{**s, "num_labels": min(s["num_labels"], 300)} for s in sites],
            "rounds": 3,
            "local_steps": 20,
            "clients_per_round": 2,
            "audit": True,
            "compression": "int8",
            "eval_instances_per_site": 50,
        },
        "the engine check's federation",
    )


def _engines(config: FederationConfig, deployment: bool) -> dict[str, Any]:
    small = engine_config(config)
    runs = {"in-process": run_federation(small)}
    try:
        runs["flower-simulation"] = run_federation(small, engine="flower-simulation")
        if deployment:
            runs["flower-deployment"] = run_federation(small, engine="flower-deployment")
    except GainnetError as exc:  # Flower missing: the report says so
        return {"runs": runs, "error": str(exc)}
    reference = [r["ratio"] for r in runs["in-process"]["rounds"]]
    for run in runs.values():
        ratios = [r["ratio"] for r in run["rounds"]]
        run["max_abs_ratio_diff"] = float(np.max(np.abs(np.subtract(ratios, reference))))
        run["same_selection"] = [r["selected"] for r in run["rounds"]] == [
            r["selected"] for r in runs["in-process"]["rounds"]
        ]
    return {"runs": runs, "rounds": small.rounds, "sites": len(small.sites)}


def _plan(study: CaseStudy, rounds: int) -> float:
    """The number of rounds the case study runs (progress-bar ticks)."""
    runs = (
        6 * study.algorithm_seeds
        + len(study.policies) * study.selection_seeds
        + len(study.fractions) * len(study.defences) * study.malicious_seeds
        + len(study.other_attacks) * len(study.defences)
        + 3
    )
    return float(rounds * runs)
