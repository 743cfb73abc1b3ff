"""Paired evaluation: a solver and the scenario's expert on the same held-out instances."""

from __future__ import annotations

import dataclasses
import json
import math
import time

import numpy as np

from gainnet.core.scenario import Scenario
from gainnet.core.seeding import check_seed, rng_for
from gainnet.core.solver import Solver
from gainnet.core.validation import check_int_arg

#: the most held-out instances one evaluation scores (memory is bounded by ``sample`` too)
MAX_EVAL_INSTANCES = 10_000_000


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """The result of :func:`evaluate`.

    Attributes
    ----------
    solver, scenario : str
        Names.
    instances : int
        Number of held-out instances (drawn from the ``"eval"`` stream of ``seed``).
    mean_utility, expert_utility : float
        Mean utility of the solver and of the default expert on the same instances.
    ratio : float
        ``mean_utility / expert_utility``.
    p05_ratio : float
        5th percentile of the per-instance ratios ``utility_i / expert_utility_i``.
    feasible_rate : float
        Fraction of decisions that satisfy every constraint.
    seconds_per_decision : float
        Wall seconds per decision when deciding the whole batch at once.
    seconds_single : float
        Median wall seconds of one decision at batch size 1.
    expert_seconds_per_decision : float
        The expert's batched wall seconds per decision, for comparison.
    """

    solver: str
    scenario: str
    instances: int
    mean_utility: float
    expert_utility: float
    ratio: float
    p05_ratio: float
    feasible_rate: float
    seconds_per_decision: float
    seconds_single: float
    expert_seconds_per_decision: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def __str__(self) -> str:
        return (
            f"{self.solver} on {self.scenario} ({self.instances} instances): "
            f"ratio {self.ratio:.4f}, p05 {self.p05_ratio:.4f}, feasible {self.feasible_rate:.3f}, "
            f"{self.seconds_per_decision * 1e6:.2f} us/decision batched, "
            f"{self.seconds_single * 1e3:.3f} ms single"
        )


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def evaluate(
    solver: Solver,
    scenario: Scenario | None = None,
    instances: int = 1000,
    seed: int = 0,
    single_repeats: int = 50,
) -> Evaluation:
    """Score ``solver`` against ``scenario.default_expert()`` on ``instances`` held-out states.

    The states come from ``rng_for(seed, "eval")``, a stream training never draws from.
    ``single_repeats`` batch-1 decisions are timed (median); 0 skips that (``seconds_single``
    is then NaN).
    """
    scenario = scenario if scenario is not None else solver.scenario
    instances = check_int_arg(instances, "instances", 1, MAX_EVAL_INSTANCES)
    single_repeats = check_int_arg(single_repeats, "single_repeats", 0, 10_000)
    state = scenario.sample(instances, rng_for(check_seed(seed), "eval"))
    expert = scenario.default_expert()
    start = time.perf_counter()
    expert_decision = expert.solve(state)
    expert_s = (time.perf_counter() - start) / len(state)

    solver.decide(state.take(slice(0, 1)))  # warm-up (lazy caches, allocator)
    start = time.perf_counter()
    decision = solver.decide(state)
    batched_s = (time.perf_counter() - start) / len(state)
    one = state.take(slice(0, 1))
    single_s = (
        _median_seconds(lambda: solver.decide(one), single_repeats) if single_repeats else math.nan
    )

    feasible = scenario.is_feasible(state, decision)
    utility = scenario.utility(state, decision)
    expert_utility = scenario.utility(state, expert_decision)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_instance = np.where(expert_utility > 0, utility / expert_utility, 1.0)
    return Evaluation(
        solver=solver.name,
        scenario=scenario.name,
        instances=len(state),
        mean_utility=float(utility.mean()),
        expert_utility=float(expert_utility.mean()),
        ratio=float(utility.mean() / expert_utility.mean()),
        p05_ratio=float(np.percentile(per_instance, 5)),
        feasible_rate=float(feasible.mean()),
        seconds_per_decision=batched_s,
        seconds_single=single_s,
        expert_seconds_per_decision=expert_s,
    )
