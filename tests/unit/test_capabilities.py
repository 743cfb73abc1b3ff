"""Solvers declare what they need from a scenario; ``make_solver`` refuses a mismatch at once.

The toy scenario below is written the documented way (hooks only, no torch maths): every
solver that needs only the NumPy interface accepts it and trains past its warm-up; the ones
that need a differentiable decode or utility, a refinement or an observable utility are
refused with a message naming the missing capability, before any training step.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import gainnet
from gainnet.core.arrays import real_array
from gainnet.core.scenario import Scenario, StateBatch
from gainnet.core.solver import scenario_capabilities
from gainnet.core.validation import Validated, setting
from gainnet.registry import SOLVERS


@dataclasses.dataclass(frozen=True)
class ShareState(StateBatch):
    gain: np.ndarray  # [n, users]


@dataclasses.dataclass(frozen=True)
class ShareParams(Validated):
    users: int = setting(3, low=1, high=64)


class ShareExpert:
    """Everything to the user with the best gain (exact)."""

    def solve(self, state: ShareState) -> np.ndarray:
        best = np.argmax(state.gain, axis=1)
        return np.eye(state.gain.shape[1])[best]


class Share(Scenario):
    """Split one unit of a resource among users; utility = sum of gain x share."""

    name = "toy-share"
    Params = ShareParams

    @property
    def observation_dim(self) -> int:
        return self.params.users

    @property
    def action_dim(self) -> int:
        return self.params.users

    def validate_state(self, state: StateBatch) -> None:
        real_array(state.gain, "gain", (None, self.params.users), low=0.0)

    def _sample(self, n, rng):
        return ShareState(gain=rng.exponential(1.0, (n, self.params.users)))

    def _observe(self, state):
        return state.gain.astype(np.float32)

    def _utility(self, state, decision):
        return (state.gain * decision).sum(axis=1)

    def _is_feasible(self, state, decision):
        return (decision >= -1e-9).all(axis=1) & (np.abs(decision.sum(axis=1) - 1) < 1e-6)

    def _decode(self, state, action):
        a = np.nan_to_num(action, nan=0.0, posinf=30.0, neginf=-30.0).clip(-30, 30)
        e = np.exp(a - a.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def _encode(self, state, decision):
        return np.log(np.clip(decision, 1e-12, None))

    def default_expert(self) -> ShareExpert:
        return ShareExpert()


def toy() -> Share:
    return Share(ShareParams())


def test_the_toy_scenario_provides_only_the_numpy_interface():
    assert scenario_capabilities(toy()) == {"observable_utility", "expert"}


def test_gdm_reward_is_refused_before_any_work():
    with pytest.raises(gainnet.GainnetError, match="differentiable decode"):
        gainnet.make_solver("gdm-reward", toy())


def test_settings_that_need_more_are_refused():
    with pytest.raises(gainnet.GainnetError, match=r"local refinement.*refine_iterations"):
        gainnet.make_solver("gdm", toy(), refine_iterations=2)


def test_best_of_n_needs_an_observable_utility():
    class Hidden(Share):
        utility_observable = False

    assert gainnet.make_solver("gdm", Hidden(ShareParams()), num_samples=1)
    with pytest.raises(gainnet.GainnetError, match="best-of-4"):
        gainnet.make_solver("gdm", Hidden(ShareParams()), num_samples=4)


@pytest.mark.parametrize("name", ["gdm", "sac", "ppo", "uniform", "random"])
def test_every_solver_that_accepts_it_trains_past_its_warmup(name):
    scenario = toy()
    solver = gainnet.make_solver(name, scenario, **SOLVERS.get(name).smoke_settings)
    budget = gainnet.Budget(steps=solver.warmup_steps() + 10, expert_labels=256)
    expert = scenario.default_expert() if solver.uses_expert else None
    solver.fit(budget, expert=expert)
    state = scenario.sample(8, gainnet.rng_for(0, "eval"))
    assert scenario.is_feasible(state, solver.decide(state)).all()


def test_the_improvement_signal_is_not_differentiable():
    from gainnet.core.feedback import ImprovementFeedback

    wrapped = ImprovementFeedback(gainnet.make_scenario("power-allocation"))
    assert "utility_torch" not in scenario_capabilities(wrapped)
    with pytest.raises(gainnet.GainnetError, match="differentiable utility"):
        gainnet.make_solver("gdm-reward", wrapped, gradient="utility")
