"""The retraining cycle: serve, monitor, detect drift, relabel, retrain, compare, promote.

``Cycle(config)`` is an iterator yielding one :class:`RoundReport` per served batch. Each round:

1. the stream produces a batch of states of the current phase; the deployed solver decides;
2. monitoring that needs no full expert: a KS test of the observations against those the
   deployed model was trained on, and an optimality-gap estimate from auditing a small fraction
   of the served states with the expert (those labels are kept);
3. on a trigger (drift or an audited gap above the threshold) the cycle labels a budgeted batch
   of recent states, trains a challenger from the incumbent's weights on a mix of new and old
   labels, compares challenger and incumbent on the same held-out recent states (by utility, no
   expert needed) and promotes the challenger only if it is better; the swap is one assignment
   between two rounds. With ``background_retrain`` the challenger trains in a thread while
   the incumbent keeps serving.

**Old versus new data.** Appending new labels to all old ones slows recovery (each minibatch is
mostly stale), while training on new labels alone forgets the old phase. The challenger draws
``new_data_share`` of each minibatch from the labels collected since the trigger and the rest
uniformly from everything older.

Everything persists in a :class:`~gainnet.continual.store.Store`; a restarted cycle resumes from
the last promoted model with every label it had collected.

The per-round ``ratio`` (served utility over the expert's, on every served state) is a
yardstick for reports only; no decision of the cycle uses it.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Literal

import numpy as np

from gainnet.continual.drift import KSDriftDetector, PageHinkley
from gainnet.continual.store import Promotion, Store
from gainnet.core.seeding import rng_for
from gainnet.core.solver import Budget
from gainnet.core.validation import Validated, check_allocation, setting
from gainnet.errors import InvalidConfigError, StoreError
from gainnet.registry import make_scenario, make_solver

#: the most rounds of a phase, and of instances one setting may ask for per round or retrain
MAX_ROUNDS = 1_000_000
MAX_INSTANCES = 10_000_000
MAX_STEPS = 100_000_000


@dataclasses.dataclass(frozen=True)
class Phase(Validated):
    """A stretch of the stream with one channel distribution.

    Attributes
    ----------
    name : str
        Shown in tables and reports (1..200 characters).
    rounds : int
        Served batches in this phase (1..1,000,000).
    preset : str or None
        Scenario preset of the phase.
    params : dict
        Scenario parameter overrides of the phase.
    end_params : dict
        Continuous drift: these parameters move linearly from their start values to these
        end values over the phase's rounds (e.g. ``{"rain_rate_mm_per_h": 50.0}``).
    """

    name: str
    rounds: int = setting(low=1, high=MAX_ROUNDS)
    preset: str | None = None
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    end_params: dict[str, Any] = dataclasses.field(default_factory=dict)

    def check(self) -> None:
        if not self.name.strip() or len(self.name) > 200:
            raise InvalidConfigError(
                f"Phase.name must be 1 to 200 characters, got {self.name!r}", "name", self.name
            )


@dataclasses.dataclass(frozen=True)
class CycleConfig(Validated):
    """Settings of a retraining cycle (every field is a TOML key of ``gainnet cycle``).

    Attributes
    ----------
    phases : tuple of Phase
        The stream; the first phase's scenario is the one the first model is trained on.
    scenario : str
        Scenario name (every phase is a parameterisation of it).
    solver : str
        Any registered solver. Imitation solvers (``uses_expert``, e.g. ``gdm``) retrain
        on expert labels; the others (``gdm-reward``, ``sac``, ``ppo``) keep training from the
        utility in the new conditions (``labels_per_retrain`` and ``new_data_share`` then
        do not apply; the audits still label).
    solver_params : dict
        Its hyper-parameters.
    database : str
        SQLite file (or ``sqlite:///path``) of the :class:`Store`.
    decisions_per_round : int
        States served per round.
    initial_labels, initial_steps : int
        Expert labels and training steps of the first model.
    audit_fraction : float
        Share of served states labelled by the expert for the gap estimate, in (0, 1].
    audit_window : int
        Audited instances the gap estimate averages over.
    gap_detector : "threshold" or "page-hinkley"
        How the audits trigger retraining: ``threshold`` when the audited relative gap
        (1 - served / expert, averaged over ``audit_window``) exceeds ``gap_threshold``;
        ``page-hinkley`` when a Page-Hinkley test on the audited per-instance ratio
        (served / expert) detects a drop (``page_hinkley_delta``, ``page_hinkley_threshold``).
    gap_threshold : float
        Audited relative gap that triggers retraining, in [0, 1].
    page_hinkley_delta, page_hinkley_threshold : float
        Drop of the ratio tolerated without alarm, and the alarm level (ratio x instances).
    drift_alpha, drift_window : float, int
        KS test level in (0, 1) and window (at least 20 observations).
    labels_per_retrain : int
        Expert labels collected per trigger.
    new_data_share : float
        Share of each challenger minibatch drawn from the new labels, in (0, 1].
    retrain_steps : int
        Optimiser steps of a challenger.
    holdout : int
        Recent states on which challenger and incumbent are compared; they also become the
        drift detector's new reference after any retraining (the new normal), so at least 20.
    cooldown_rounds : int
        Rounds after a retraining in which no new trigger fires.
    background_retrain : bool
        Train the challenger in a background thread while the incumbent keeps serving; it is
        compared and swapped in at the first round boundary after it finishes. Off by default
        so runs are reproducible round for round (the swap round then depends on wall time).
    round_interval_s : float
        Wall seconds between rounds (0..3600), to emulate a live service's pace (0: as fast
        as possible).
    seed : int
    """

    phases: tuple[Phase, ...] = setting(max_items=10_000)
    scenario: str = "power-allocation"
    solver: str = "gdm"
    solver_params: dict[str, Any] = dataclasses.field(default_factory=dict)
    database: str = "cycle.sqlite"
    decisions_per_round: int = setting(200, low=1, high=MAX_INSTANCES)
    initial_labels: int = setting(20_000, low=1, high=MAX_INSTANCES)
    initial_steps: int = setting(3000, low=1, high=MAX_STEPS)
    audit_fraction: float = setting(0.05, gt=0, high=1)
    audit_window: int = setting(100, low=1, high=MAX_INSTANCES)
    gap_detector: Literal["threshold", "page-hinkley"] = "threshold"
    gap_threshold: float = setting(0.01, low=0, high=1)
    page_hinkley_delta: float = setting(0.005, low=0, high=1)
    page_hinkley_threshold: float = setting(1.0, gt=0, high=1e6)
    drift_alpha: float = setting(0.001, gt=0, lt=1)
    drift_window: int = setting(400, low=20, high=MAX_INSTANCES)
    labels_per_retrain: int = setting(2000, low=1, high=MAX_INSTANCES)
    new_data_share: float = setting(0.75, gt=0, high=1)
    retrain_steps: int = setting(2000, low=1, high=MAX_STEPS)
    holdout: int = setting(500, low=20, high=MAX_INSTANCES)
    cooldown_rounds: int = setting(3, low=0, high=MAX_ROUNDS)
    background_retrain: bool = False
    round_interval_s: float = setting(0.0, low=0, high=3600)
    seed: int = setting(0, low=0, high=2**63 - 1)

    def check(self) -> None:
        if not self.phases:
            raise InvalidConfigError("a cycle needs at least one [[phases]] table", "phases")

    @property
    def total_rounds(self) -> int:
        return sum(p.rounds for p in self.phases)

    def most_labels(self) -> int:
        """The most labels the store can hold at the end (what one retraining loads)."""
        audits = math.ceil(self.audit_fraction * self.decisions_per_round)
        return self.initial_labels + self.total_rounds * (audits + self.labels_per_retrain)


@dataclasses.dataclass(frozen=True)
class RoundReport:
    """What happened in one round."""

    round: int
    phase: str
    served_utility: float
    expert_utility: float
    ratio: float
    ks_p_value: float
    audited_gap: float
    triggered: bool
    promoted: bool
    labels_total: int
    retrain_seconds: float
    model: str


class _Training(threading.Thread):
    """A challenger's training in a background thread (no database access in here)."""

    def __init__(self, challenger, train: Callable[[], object]) -> None:
        super().__init__(daemon=True)
        self.challenger, self._train = challenger, train
        self.error: BaseException | None = None
        self.seconds = 0.0
        self.start()

    def run(self) -> None:
        start = time.perf_counter()
        try:
            self._train()
        except BaseException as exc:  # re-raised in the serving thread by join_result
            self.error = exc
        self.seconds = time.perf_counter() - start

    def join_result(self):
        self.join()
        if self.error is not None:
            raise self.error
        return self.challenger


class Cycle:
    """Iterate to run the cycle; see the module docstring."""

    def __init__(self, config: CycleConfig) -> None:
        if not isinstance(config, CycleConfig):
            raise InvalidConfigError(f"Cycle needs a CycleConfig, got {type(config).__name__}")
        self.config = config
        self.scenarios = [
            make_scenario(config.scenario, preset=p.preset, **p.params) for p in config.phases
        ]
        for p in config.phases:  # continuous-drift end points must be valid parameters too
            if p.end_params:
                make_scenario(config.scenario, preset=p.preset, **{**p.params, **p.end_params})
        first = self.scenarios[0]
        # the solver's settings are checked now, not after labelling; a fresh cycle trains it
        self._untrained = make_solver(
            config.solver, first, seed=config.seed, **config.solver_params
        )
        per_instance = max(s.state_bytes_per_instance for s in self.scenarios)
        for name in ("decisions_per_round", "holdout", "initial_labels", "labels_per_retrain"):
            check_allocation(f"CycleConfig.{name} states", getattr(config, name) * per_instance, 1)
        check_allocation(
            "the labels one retraining loads (initial + audits + retrains over every round)",
            config.most_labels() * per_instance,
            1,
        )
        self.store = Store(config.database)  # last: refuses a second writer, checks the files
        self._rng = rng_for(config.seed, "drift")
        self.deployed = None
        self.model_hash: str | None = None
        #: the states served in the latest round (to score other solvers on the same instances)
        self.last_state = None
        #: the deployed solver's decisions on them, and its wall time for them (s)
        self.last_decision = None
        self.last_decide_seconds = math.nan
        #: the expert's decisions on them (the reports' yardstick), and its wall time (s)
        self.last_expert_decision = None
        self.last_expert_seconds = math.nan

    # ----------------------------------------------------------------- helpers
    def _phase_of(self, round_index: int) -> int:
        end = 0
        for i, phase in enumerate(self.config.phases):
            end += phase.rounds
            if round_index < end:
                return i
        return len(self.config.phases) - 1

    def scenario_at(self, round_index: int):
        """The conditions of a round: its phase's scenario, or, for a phase with
        ``end_params``, parameters moved linearly from the phase's start to its end values."""
        i = self._phase_of(round_index)
        phase = self.config.phases[i]
        if not phase.end_params:
            return self.scenarios[i]
        first_round = sum(p.rounds for p in self.config.phases[:i])
        t = min(1.0, (round_index - first_round) / max(phase.rounds - 1, 1))
        start = self.scenarios[i].params
        moved = {
            key: (
                np.asarray(getattr(start, key), float) * (1 - t) + np.asarray(end, float) * t
            ).tolist()
            for key, end in phase.end_params.items()
        }
        return make_scenario(self.config.scenario, preset=phase.preset, **{**phase.params, **moved})

    @property
    def total_rounds(self) -> int:
        return self.config.total_rounds

    def close(self) -> None:
        """Release the store (its lock and database connection)."""
        self.store.close()

    def _label(self, round_index: int, scenario, n: int):
        state = scenario.sample(n, self._rng)
        decision = scenario.default_expert().solve(state)
        self.store.add_labels(round_index, state, decision)
        return state, decision

    def _start(self) -> None:
        """Resume from the last promoted model, or train and promote the first one.

        The drift detector's reference is a fresh unlabelled sample of the first phase's
        conditions (what the deployed model serves when the stream starts).
        """
        cfg = self.config
        first = self.scenarios[0]
        resume = self.store.last_promoted()
        if resume is not None:
            self._untrained = None  # resumed: the stored model serves
            self.deployed, self.model_hash = self.store.load_model(resume), resume
            self.deployed.set_scenario(first)
        else:
            solver, self._untrained = self._untrained, None
            if solver.uses_expert:
                state, decision = self._initial_labels(first)
                solver.fit_labelled(state, decision, Budget(steps=cfg.initial_steps))
            else:  # a solver that learns from the utility alone needs no labels
                solver.fit(Budget(steps=cfg.initial_steps))
            self.model_hash = self.store.save_model(solver)
            self.store.record_promotion(Promotion(-1, None, self.model_hash, None, math.nan, True))
            self.deployed = solver
        reference = first.sample(max(cfg.drift_window, 1000), self._rng)
        self.detector = KSDriftDetector(
            first.observe(reference), window=cfg.drift_window, alpha=cfg.drift_alpha
        )

    def _initial_labels(self, first):
        """The first model's labels: those a killed earlier run already stored (round -1),
        topped up to ``initial_labels``; a restart never stores them twice."""
        stored = self.store.label_count(-1)
        if stored < self.config.initial_labels:
            self._label(-1, first, self.config.initial_labels - stored)
        state, decision = self.store.labels(first, only_round=-1)
        n = self.config.initial_labels
        return state.take(slice(0, n)), decision[:n]

    def _prepare_challenger(self, round_index: int, scenario):
        """Label (imitation solvers) and return the challenger and its training callable."""
        cfg = self.config
        challenger = self.store.load_model(self.model_hash)
        challenger.set_scenario(scenario)
        budget = Budget(steps=cfg.retrain_steps)
        if not challenger.uses_expert:  # utility-trained: keep learning, no labels
            return challenger, lambda: challenger.fit(budget)
        new_state, _ = self._label(round_index, scenario, cfg.labels_per_retrain)
        all_state, all_decision = self.store.labels(scenario)
        n_old = len(all_state) - len(new_state)  # labels() returns oldest first, new last
        weight = np.empty(len(all_state))
        weight[n_old:] = cfg.new_data_share / len(new_state)
        weight[:n_old] = (1 - cfg.new_data_share) / max(n_old, 1)
        return challenger, lambda: challenger.fit_labelled(
            all_state, all_decision, budget, sample_weight=weight
        )

    def _finish(self, round_index: int, scenario, challenger) -> bool:
        """Compare challenger and incumbent on the same held-out states; promote if better."""
        holdout = scenario.sample(self.config.holdout, self._rng)
        incumbent_score = float(scenario.utility(holdout, self.deployed.decide(holdout)).mean())
        challenger_score = float(scenario.utility(holdout, challenger.decide(holdout)).mean())
        digest = self.store.save_model(challenger)
        promoted = challenger_score > incumbent_score
        self.store.record_promotion(
            Promotion(
                round_index, self.model_hash, digest, incumbent_score, challenger_score, promoted
            )
        )
        if promoted:
            self.deployed, self.model_hash = challenger, digest  # the hot swap
        self.detector.reset(scenario.observe(holdout))  # the new normal, promoted or not
        return promoted

    # ----------------------------------------------------------------- the loop
    def __iter__(self) -> Iterator[RoundReport]:
        """The rounds; the store (and its lock) is released when they end or stop."""
        if self.store.closed:
            raise StoreError(f"this Cycle has run; make a new Cycle to resume {self.store.path}")
        try:
            yield from self._rounds()
        finally:
            self.close()

    def _rounds(self) -> Iterator[RoundReport]:
        cfg = self.config
        self._start()
        audited: deque[tuple[float, float]] = deque(maxlen=cfg.audit_window)
        n_audit = max(1, math.ceil(cfg.audit_fraction * cfg.decisions_per_round))
        cooldown_until = 0
        pending: _Training | None = None
        page_hinkley = PageHinkley(
            cfg.page_hinkley_delta, cfg.page_hinkley_threshold, max(cfg.audit_window // 2, 1)
        )
        for r in range(self.total_rounds):
            phase = self._phase_of(r)
            scenario = self.scenario_at(r)
            state = scenario.sample(cfg.decisions_per_round, self._rng)
            self.last_state = state
            start = time.perf_counter()
            self.last_decision = self.deployed.decide(state)
            self.last_decide_seconds = time.perf_counter() - start
            served = scenario.utility(state, self.last_decision)
            start = time.perf_counter()
            expert_decision = scenario.default_expert().solve(state)
            self.last_expert_seconds = time.perf_counter() - start
            self.last_expert_decision = expert_decision
            expert_u = scenario.utility(state, expert_decision)  # for the reports only
            test = self.detector.update(scenario.observe(state))
            audit = state.take(slice(0, n_audit))  # the audit's labels: solved once, above
            audit_decision = expert_decision[:n_audit]
            self.store.add_labels(r, audit, audit_decision)
            audit_expert = scenario.utility(audit, audit_decision)
            audited.extend(zip(served[:n_audit], audit_expert, strict=True))
            gap = 1.0 - sum(a for a, _ in audited) / max(sum(b for _, b in audited), 1e-12)
            drifted = test is not None and bool(test.drifted)
            if cfg.gap_detector == "page-hinkley":
                ratio = served[:n_audit] / np.maximum(np.abs(audit_expert), 1e-12)
                gap_alarm = page_hinkley.update(ratio)
            else:
                gap_alarm = len(audited) >= cfg.audit_window // 2 and gap > cfg.gap_threshold
            promoted, retrain_s = False, 0.0
            if pending is not None and not pending.is_alive():  # background training done
                promoted, retrain_s = (
                    self._finish(r, scenario, pending.join_result()),
                    pending.seconds,
                )
                pending = None
            triggered = (drifted or gap_alarm) and r >= cooldown_until and pending is None
            if triggered:
                cooldown_until = r + 1 + cfg.cooldown_rounds
                challenger, train = self._prepare_challenger(r, scenario)
                if cfg.background_retrain:  # the incumbent keeps serving meanwhile
                    pending = _Training(challenger, train)
                else:
                    start = time.perf_counter()
                    train()
                    promoted = self._finish(r, scenario, challenger)
                    retrain_s = time.perf_counter() - start
                audited.clear()
                page_hinkley.reset()
            ks_p = math.nan if test is None else test.p_value
            metrics = {"served_utility": served.mean(), "audited_gap": gap, "ks_p_value": ks_p}
            for name, value in metrics.items():
                if math.isfinite(value):
                    self.store.record_metric(r, name, float(value))
            yield RoundReport(
                round=r,
                phase=cfg.phases[phase].name,
                served_utility=float(served.mean()),
                expert_utility=float(expert_u.mean()),
                ratio=float(served.mean() / expert_u.mean()),
                ks_p_value=float(ks_p),
                audited_gap=float(gap),
                triggered=bool(triggered),
                promoted=bool(promoted),
                labels_total=self.store.label_count(),
                retrain_seconds=float(retrain_s),
                model=self.model_hash[:12],
            )
            if cfg.round_interval_s:
                time.sleep(cfg.round_interval_s)
        if pending is not None:  # the stream ended while a challenger was training
            self._finish(self.total_rounds - 1, scenario, pending.join_result())
