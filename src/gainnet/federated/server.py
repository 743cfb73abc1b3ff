"""The server's side of a round, the same code under every engine.

A round is: **query** every site (:meth:`FederatedServer.query_plan` says what to ask each;
round 1 also collects observation moments, and unaudited sites return their audit sample),
**select** (:meth:`select`: normaliser, audits, then the policy over the non-excluded sites),
**train** the selected sites (the engine delivers the global weights and collects updates),
**aggregate** (:meth:`aggregate`, or the engine's own aggregator followed by
:meth:`finish_round`) and **evaluate** the new global model against the expert on the pooled
test set. :meth:`result` is the run's ``dict`` (rounds, totals, time to target).

Round time is emulated: the query exchange (the slowest site's round trip) plus the slowest
participating site's download, local training and upload at its link's rate of that round.
Measured compute seconds are reported beside it.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from gainnet.core.seeding import rng_for
from gainnet.errors import GainnetError
from gainnet.federated import aggregation, compression
from gainnet.federated.audit import AuditResult, audit_indices, audit_site
from gainnet.federated.config import FederationConfig
from gainnet.federated.selection import RoundContext, SiteReport, select
from gainnet.federated.site import malicious_sites
from gainnet.federated.task import Weights, make_task

#: bytes of a query request and of a reply without audit rows (a few dozen numbers)
QUERY_BYTES = 256
#: what a round record keeps of every participating site's training reply
SITE_COST_KEYS = (
    "site",
    "down_bytes",
    "up_bytes",
    "downlink_s",
    "compute_s",
    "uplink_s",
    "round_s",
    "measured_compute_s",
    "energy_j",
)


@dataclasses.dataclass
class RoundRecord:
    """What happened in one round (one row of ``rounds.csv``)."""

    round: int
    selected: list[int]
    participated: list[int]
    declined: list[int]
    #: sites whose update was malformed (not aggregated)
    rejected: list[int]
    used: list[int]
    query_s: float
    round_s: float
    elapsed_s: float
    down_bytes: float
    up_bytes: float
    energy_j: float
    measured_compute_s: float
    mean_loss: float
    ratio: float
    p05_ratio: float
    feasible_rate: float
    excluded: int
    server_s: float
    #: per participating site: its link and device costs this round
    site_costs: list[dict[str, float]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class _Pending:
    selected: list[int]
    query_s: float
    started: float


class FederatedServer:
    """Holds the global model and the federation's bookkeeping."""

    def __init__(self, config: FederationConfig, task=None) -> None:
        self.config = config
        self.task = task or make_task(config)
        self.weights: Weights = self.task.initial_weights()
        self.normaliser: Weights | None = None
        self.test_state, self.test_expert_utility = self.task.test_set()
        self.malicious = malicious_sites(config)
        self.audits: dict[int, AuditResult] = {}
        self.excluded: set[int] = set()
        self.observed_round_s: dict[int, float] = {}
        self._predicted: dict[int, list[float]] = {}
        self.records: list[RoundRecord] = []
        self.elapsed_s = 0.0
        self._pending: _Pending | None = None
        self._rejected: list[int] = []
        self.initial = self.task.evaluate(self.weights, self.test_state, self.test_expert_utility)
        self.last_evaluation = self.initial

    # ----------------------------------------------------------------- sizes
    @property
    def model_bytes(self) -> int:
        return compression.payload_bytes(self.weights)

    @property
    def expected_up_bytes(self) -> int:
        cfg = self.config
        return compression.expected_bytes(self.weights, cfg.compression, cfg.top_k_fraction)

    # ----------------------------------------------------------------- query and select
    def query_plan(self, round_index: int) -> dict[int, dict[str, Any]]:
        """Per site: ``want_moments`` (round 1) and ``audit_indices`` (not yet audited)."""
        cfg = self.config
        plan = {}
        for i in range(len(cfg.sites)):
            audit = cfg.audit and i not in self.audits
            plan[i] = {
                "want_moments": round_index == 1,
                "audit_indices": audit_indices(cfg.seed, i, cfg.audit_samples) if audit else [],
            }
        return plan

    def select(
        self,
        round_index: int,
        answers: dict[int, tuple[dict[str, float], dict[str, Any], dict[str, np.ndarray]]],
    ) -> list[int]:
        """The sites to train this round, from every site's answer to the query."""
        started = time.perf_counter()
        cfg = self.config
        if round_index == 1:
            moments = [answers[i][1] for i in sorted(answers) if answers[i][1]]
            if not moments:
                raise GainnetError("no site reported its data moments in round 1")
            self.weights = self.task.start_from_moments(self.weights, moments)
            self.normaliser = {k: self.weights[k] for k in self.task.frozen}
        if cfg.audit:
            for i, (_, _, arrays) in sorted(answers.items()):
                if i in self.audits or not arrays:
                    continue
                scenario = self.task.site_scenario(
                    cfg.sites[i], self.task.conditions(cfg.sites[i], round_index)[0]
                )
                result = audit_site(
                    i,
                    arrays,
                    scenario,
                    self.test_state.take(slice(0, 1)),
                    cfg.audit_samples,
                    cfg.audit_tolerance,
                )
                self.audits[i] = result
                if not result.passed:
                    self.excluded.add(i)
        reports = []
        query_s = 0.0
        for i, (metrics, _, arrays) in sorted(answers.items()):
            report = SiteReport.from_metrics(metrics)
            if report.site != i or not 0 <= i < len(cfg.sites):
                raise GainnetError(f"the answer of site {i} reports itself as site {report.site}")
            extra = sum(a.nbytes for a in arrays.values())
            query_s = max(
                query_s,
                report.rtt_ms / 1000
                + QUERY_BYTES * 8 / (report.downlink_mbps * 1e6)
                + (QUERY_BYTES + extra) * 8 / (report.uplink_mbps * 1e6),
            )
            if i not in self.excluded:
                reports.append(report)
            seen = self._predicted.setdefault(i, [])
            seen.append(
                report.predicted_round_s(self.model_bytes, self.expected_up_bytes, cfg.local_steps)
            )
        context = RoundContext(
            round_index=round_index,
            clients_per_round=cfg.clients_per_round,
            model_bytes=self.model_bytes,
            up_bytes=self.expected_up_bytes,
            local_steps=cfg.local_steps,
            deadline_s=cfg.round_deadline_s,
            observed_round_s=dict(self.observed_round_s),
            typical_round_s={i: float(np.mean(v)) for i, v in self._predicted.items()},
        )
        chosen = select(cfg.selection, reports, context, rng_for(cfg.seed, f"select-{round_index}"))
        self._pending = _Pending(chosen, query_s, started)
        return chosen

    # ----------------------------------------------------------------- aggregate
    def accept(
        self, site: int, payload: dict[str, np.ndarray], metrics: dict[str, float]
    ) -> Weights | None:
        """A site's full weights from its training reply, or None for a malformed one
        (missing, negative or non-finite costs; missing or extra tensors, wrong shapes,
        non-finite values): that update is rejected this round, the site listed in the round's
        ``rejected``."""
        costs_ok = all(
            isinstance(metrics.get(k), int | float)
            and math.isfinite(metrics[k])
            and metrics[k] >= 0
            for k in (*SITE_COST_KEYS, "num_examples", "loss")
        )
        if costs_ok and metrics["num_examples"] > 0 and int(metrics["site"]) == site:
            try:
                return compression.decode(payload, self.weights, self.config.compression)
            except GainnetError:
                pass
        self._rejected.append(site)
        return None

    def aggregate(
        self, round_index: int, updates: list[tuple[int, dict[str, np.ndarray], dict[str, float]]]
    ) -> RoundRecord:
        """Aggregate ``(site, payload, metrics)`` updates with gainnet's aggregators (the
        in-process engine) and finish the round."""
        cfg = self.config
        arrived, full, answered = [], [], []
        for site, payload, metrics in sorted(updates, key=lambda u: u[0]):
            if metrics.get("declined"):
                answered.append((site, metrics))
                continue
            weights = self.accept(site, payload, metrics)
            if weights is not None:
                arrived.append((site, payload, metrics))
                answered.append((site, metrics))
                full.append(weights)
        if full:
            new, used_index = aggregation.aggregate(
                cfg.aggregator,
                full,
                [m["num_examples"] for _, _, m in arrived],
                cfg.trim_fraction,
                cfg.krum_assumed_malicious,
                aggregation.multi_krum_keep(cfg.clients_per_round, cfg.krum_assumed_malicious),
            )
            used = [arrived[i][0] for i in used_index]
        else:
            new, used = self.weights, []
        return self.finish_round(round_index, new, answered, used)

    def finish_round(
        self,
        round_index: int,
        new_weights: Weights,
        site_metrics: list[tuple[int, dict[str, float]]],
        used: list[int],
    ) -> RoundRecord:
        """Install the aggregate (normaliser re-imposed), evaluate it and log the round;
        ``site_metrics`` are the accepted and the declined sites' training replies."""
        pending = self._pending
        if pending is None:
            raise GainnetError("finish_round before select")
        self.weights = {k: np.asarray(new_weights[k], dtype=np.float32) for k in self.weights}
        if self.normaliser is not None:
            self.weights.update({k: self.normaliser[k] for k in self.task.frozen})
        rejected = sorted(self._rejected)
        self._rejected = []
        trained = [(s, m) for s, m in site_metrics if not m.get("declined")]
        declined = sorted(s for s, m in site_metrics if m.get("declined"))
        for s, m in trained:
            self.observed_round_s[s] = m["round_s"]
        round_s = pending.query_s + max((m["round_s"] for _, m in trained), default=0.0)
        self.elapsed_s += round_s
        evaluation = self.task.evaluate(self.weights, self.test_state, self.test_expert_utility)
        self.last_evaluation = evaluation
        record = RoundRecord(
            round=round_index,
            selected=list(pending.selected),
            participated=sorted(s for s, _ in trained),
            declined=declined,
            rejected=rejected,
            used=sorted(used),
            query_s=pending.query_s,
            round_s=round_s,
            elapsed_s=self.elapsed_s,
            down_bytes=sum(m["down_bytes"] for _, m in trained),
            up_bytes=sum(m["up_bytes"] for _, m in trained),
            energy_j=sum(m["energy_j"] for _, m in trained),
            measured_compute_s=sum(m["measured_compute_s"] for _, m in trained),
            mean_loss=float(np.mean([m["loss"] for _, m in trained])) if trained else math.nan,
            ratio=evaluation["ratio"],
            p05_ratio=evaluation["p05_ratio"],
            feasible_rate=evaluation["feasible_rate"],
            excluded=len(self.excluded),
            server_s=time.perf_counter() - pending.started,
            site_costs=[{k: m[k] for k in SITE_COST_KEYS} for _, m in sorted(trained)],
        )
        self.records.append(record)
        self._pending = None
        return record

    # ----------------------------------------------------------------- results
    @property
    def honest_excluded(self) -> int:
        return len(self.excluded - self.malicious)

    def seconds_to_target(self) -> float | None:
        """Emulated seconds until the global model first reached ``target_ratio`` (None if
        it never did)."""
        for r in self.records:
            if r.ratio >= self.config.target_ratio:
                return r.elapsed_s
        return None

    def save_model(self, directory: str | Path) -> Path:
        """Write the global model as a gainnet solver checkpoint (``gainnet.load_solver``,
        ``gainnet evaluate`` read it)."""
        return self.task.save(self.weights, directory)

    def result(self, engine: str, wall_s: float) -> dict[str, Any]:
        """The run as a JSON-friendly dict."""
        last = self.records[-1] if self.records else None
        return {
            "engine": engine,
            "config": self.config.to_dict(),
            "initial_ratio": self.initial["ratio"],
            "final_ratio": last.ratio if last else self.initial["ratio"],
            "final_p05_ratio": last.p05_ratio if last else self.initial["p05_ratio"],
            "final_feasible_rate": last.feasible_rate if last else 1.0,
            "final_evaluation": dict(self.last_evaluation),
            "seconds_to_target": self.seconds_to_target(),
            "emulated_s": self.elapsed_s,
            "bytes": float(sum(r.down_bytes + r.up_bytes for r in self.records)),
            "up_bytes": float(sum(r.up_bytes for r in self.records)),
            "energy_j": float(sum(r.energy_j for r in self.records)),
            "malicious_sites": sorted(self.malicious),
            "excluded_sites": sorted(self.excluded),
            "honest_excluded": self.honest_excluded,
            "audits": [dataclasses.asdict(a) for _, a in sorted(self.audits.items())],
            "wall_s": wall_s,
            "server_s_per_round": float(np.mean([r.server_s for r in self.records]))
            if self.records
            else 0.0,
            "rounds": [dataclasses.asdict(r) for r in self.records],
        }
