"""``sac`` and ``ppo``: stable-baselines3 on the one-shot Gymnasium adapter of a scenario.

One ``Budget`` step is one environment step (one decision). Checkpoints hold the policy's
``state_dict`` (safetensors), never SB3's pickled zip.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
from typing import Any, ClassVar

import numpy as np
import torch

from gainnet.adapters.gymnasium_env import ScenarioEnv
from gainnet.core.registry import SOLVERS
from gainnet.core.scenario import StateBatch
from gainnet.core.seeding import int_seed_for, rng_for
from gainnet.core.solver import Budget, Callback, FitReport, Solver, TrainingClock
from gainnet.core.validation import Validated, setting
from gainnet.errors import GainnetError, InvalidConfigError

#: the most weights one SB3 network may have, and the largest replay buffer (transitions)
MAX_SB3_PARAMETERS = 20_000_000
MAX_BUFFER_SIZE = 10_000_000


def _reward_scale(scenario) -> float:
    """1 / mean utility of random decisions, so rewards are of order one."""
    state = scenario.sample(256, rng_for(0, "init"))
    action = rng_for(0, "explore").uniform(-1, 1, (256, scenario.action_dim))
    mean = float(np.abs(scenario.utility(state, scenario.decode(state, action))).mean())
    return 1.0 / mean if mean > 0 else 1.0


def _global_rng_states() -> tuple:
    """Python's, NumPy's and torch's global generator states (to restore them afterwards)."""
    return random.getstate(), np.random.get_state(), torch.random.get_rng_state()  # noqa: NPY002


class SB3Solver(Solver):
    """Shared plumbing; subclasses set ``algorithm`` and ``_model_kwargs``."""

    algorithm: ClassVar[str]
    uses_expert = False

    def __init__(self, scenario, seed: int = 0, **params) -> None:
        super().__init__(scenario, seed=seed, **params)
        self._check_network_size(scenario)
        self.model = None
        self._rng_states: tuple | None = None

    @contextlib.contextmanager
    def _private_rngs(self):
        """Run SB3 on this solver's own copy of the global RNGs, leaving the caller's intact.

        stable-baselines3 seeds Python's, NumPy's and torch's global generators when a model
        is built and draws from them while learning; the states SB3 leaves behind are kept
        here and swapped in for the next call, so results depend only on ``seed``.
        """
        caller = _global_rng_states()
        if self._rng_states is not None:
            random.setstate(self._rng_states[0])
            np.random.set_state(self._rng_states[1])  # noqa: NPY002
            torch.random.set_rng_state(self._rng_states[2])
        try:
            yield
        finally:
            self._rng_states = _global_rng_states()
            random.setstate(caller[0])
            np.random.set_state(caller[1])  # noqa: NPY002
            torch.random.set_rng_state(caller[2])

    def _model_kwargs(self) -> dict[str, Any]:
        raise NotImplementedError

    def _check_network_size(self, scenario) -> None:
        c = self.config
        width = max(scenario.observation_dim, scenario.action_dim) + 1
        weights = c.hidden * (width + (c.layers - 1) * (c.hidden + 1) + width)
        if weights > MAX_SB3_PARAMETERS:
            raise InvalidConfigError(
                f"{self.name}: hidden = {c.hidden} and layers = {c.layers} with "
                f"{scenario.observation_dim} observations give about {weights:,} weights, more "
                f"than {MAX_SB3_PARAMETERS:,}: use a smaller network"
            )

    def _build(self):
        if self.model is None:
            # SB3's first import and model construction touch the global RNGs: keep them private
            with self._private_rngs():
                import stable_baselines3
                import stable_baselines3.common.callbacks  # imported here, under the guard

                env = ScenarioEnv(
                    self.scenario, seed=self.seed, reward_scale=_reward_scale(self.scenario)
                )
                self.model = getattr(stable_baselines3, self.algorithm)(
                    "MlpPolicy",
                    env,
                    seed=int_seed_for(self.seed, "solver") % (2**31),
                    device="cpu",
                    verbose=0,
                    **self._model_kwargs(),
                )
        return self.model

    def fit(self, budget: Budget, expert=None, callback: Callback | None = None) -> FitReport:
        model = self._build()
        from stable_baselines3.common.callbacks import BaseCallback

        clock = TrainingClock(budget, callback)

        class Stop(BaseCallback):
            def _on_step(self) -> bool:
                rewards = self.locals.get("rewards")
                metrics = {} if rewards is None else {"reward": float(np.mean(rewards))}
                clock.tick(metrics)
                return clock.running()

        total = budget.steps if budget.steps is not None else 10**9
        with self._private_rngs():
            model.learn(total_timesteps=total, callback=Stop(), reset_num_timesteps=False)
        self._check_finite_weights(clock.step)
        self.fitted = True
        return FitReport(steps=clock.step, seconds=clock.elapsed_s, expert_labels=0, metrics={})

    def _check_finite_weights(self, step: int) -> None:
        """A diverged learner (a huge learning rate) leaves NaN weights: say so, do not deploy."""
        for name, tensor in self.model.policy.state_dict().items():
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise GainnetError(
                    f"{self.name} training diverged by step {step}: weight {name!r} is not "
                    "finite; use a smaller learning_rate"
                )

    def set_scenario(self, scenario) -> None:
        """Keep the weights (and reward scale); train in ``scenario`` from now on (after drift)."""
        super().set_scenario(scenario)
        if self.model is not None:
            reward_scale = self.model.get_env().get_attr("reward_scale")[0]
            self.model.set_env(ScenarioEnv(scenario, seed=self.seed, reward_scale=reward_scale))

    def decide(self, state: StateBatch) -> np.ndarray:
        self._check_state(state)
        model = self._build()
        # deterministic prediction draws no random numbers: no RNG swap on the hot path
        action, _ = model.predict(self.scenario.observe(state), deterministic=True)
        return self.scenario.decode(state, np.asarray(action, dtype=float).reshape(len(state), -1))

    def weights(self) -> dict[str, torch.Tensor]:
        return {k: v.clone() for k, v in self._build().policy.state_dict().items()}

    def load_weights(self, tensors: dict[str, torch.Tensor]) -> None:
        self._build().policy.load_state_dict(tensors, strict=True)
        self.fitted = True


@dataclasses.dataclass(frozen=True)
class SACConfig(Validated):
    """Hyper-parameters of ``sac`` (stable-baselines3 SAC).

    Attributes
    ----------
    hidden, layers : int
        Width (1..4096) and depth (1..64) of the actor and critic MLPs.
    learning_rate : float
        In (0, 1].
    batch_size : int
        Minibatch of each gradient update (1..65,536).
    buffer_size : int
        Replay transitions kept (1..10 million, and at least ``batch_size``).
    learning_starts : int
        Environment steps of random exploration before the first update: a budget must exceed
        it to train anything.
    train_freq : int
        Environment steps between gradient updates (one update each time).
    """

    hidden: int = setting(256, low=1, high=4096)
    layers: int = setting(2, low=1, high=64)
    learning_rate: float = setting(1e-3, gt=0, high=1.0)
    batch_size: int = setting(256, low=1, high=65_536)
    buffer_size: int = setting(100_000, low=1, high=MAX_BUFFER_SIZE)
    learning_starts: int = setting(500, low=0, high=10**9)
    train_freq: int = setting(1, low=1, high=10**6)

    def check(self) -> None:
        if self.buffer_size < self.batch_size:
            raise InvalidConfigError(
                f"buffer_size ({self.buffer_size}) must be at least batch_size ({self.batch_size})"
            )


@SOLVERS.register("sac")
class SAC(SB3Solver):
    """Soft actor-critic (stable-baselines3) on the one-shot Gymnasium adapter."""

    Config = SACConfig
    algorithm = "SAC"
    summary = "soft actor-critic (stable-baselines3) on the Gymnasium adapter"
    smoke_settings: ClassVar[dict[str, Any]] = {
        "hidden": 32,
        "batch_size": 16,
        "buffer_size": 1000,
        "learning_starts": 10,
    }

    def warmup_steps(self) -> int:
        return self.config.learning_starts

    def _model_kwargs(self) -> dict[str, Any]:
        c = self.config
        return {
            "learning_rate": c.learning_rate,
            "batch_size": c.batch_size,
            "buffer_size": c.buffer_size,
            "learning_starts": c.learning_starts,
            "train_freq": c.train_freq,
            "gamma": 0.0,  # one-shot episodes: no future to discount
            "policy_kwargs": {"net_arch": [c.hidden] * c.layers},
        }


@dataclasses.dataclass(frozen=True)
class TD3Config(SACConfig):
    """Hyper-parameters of ``td3`` (stable-baselines3 TD3): those of ``sac``, plus

    Attributes
    ----------
    action_noise : float
        Standard deviation of the Gaussian exploration noise added to the actor's actions
        (action units; 0 explores only through ``learning_starts``).
    """

    action_noise: float = setting(0.1, low=0.0, high=10.0)


@SOLVERS.register("td3")
class TD3(SAC):
    """Twin delayed DDPG (stable-baselines3): the method of the nearest runnable ISCC project."""

    Config = TD3Config
    algorithm = "TD3"
    summary = "twin delayed DDPG (stable-baselines3) on the Gymnasium adapter"

    def _model_kwargs(self) -> dict[str, Any]:
        from stable_baselines3.common.noise import ActionNoise

        class SeededNoise(ActionNoise):  # SB3's NormalActionNoise draws from numpy's global RNG
            def __init__(self, sigma: float, rng) -> None:
                super().__init__()
                self.sigma, self.rng = sigma, rng

            def __call__(self):
                return self.rng.normal(0.0, self.sigma, size=dim)

        kwargs = super()._model_kwargs()
        dim, sigma = self.scenario.action_dim, self.config.action_noise
        noise = SeededNoise(sigma, rng_for(self.seed, "exploration")) if sigma > 0 else None
        kwargs["action_noise"] = noise
        return kwargs


@dataclasses.dataclass(frozen=True)
class PPOConfig(Validated):
    """Hyper-parameters of ``ppo`` (stable-baselines3 PPO).

    Attributes
    ----------
    hidden, layers : int
        Width (1..4096) and depth (1..64) of the policy and value MLPs.
    learning_rate : float
        In (0, 1].
    n_steps : int
        Rollout length (2..1 million): the first update happens after ``n_steps`` steps.
    batch_size : int
        Minibatch size (at least 2, for advantage normalisation; a divisor of ``n_steps``).
    n_epochs : int
        Epochs per rollout (1..1000).
    """

    hidden: int = setting(128, low=1, high=4096)
    layers: int = setting(2, low=1, high=64)
    learning_rate: float = setting(3e-4, gt=0, high=1.0)
    n_steps: int = setting(512, low=2, high=1_000_000)
    batch_size: int = setting(128, low=2, high=1_000_000)
    n_epochs: int = setting(10, low=1, high=1000)

    def check(self) -> None:
        if self.n_steps % self.batch_size:
            raise InvalidConfigError(
                f"batch_size ({self.batch_size}) must divide n_steps ({self.n_steps}): PPO "
                "would otherwise train on a truncated last minibatch"
            )


@SOLVERS.register("ppo")
class PPO(SB3Solver):
    """Proximal policy optimisation (stable-baselines3) on the one-shot Gymnasium adapter."""

    Config = PPOConfig
    algorithm = "PPO"
    summary = "proximal policy optimisation (stable-baselines3) on the Gymnasium adapter"
    smoke_settings: ClassVar[dict[str, Any]] = {
        "hidden": 32,
        "n_steps": 16,
        "batch_size": 8,
        "n_epochs": 2,
    }

    def warmup_steps(self) -> int:
        return self.config.n_steps

    def _model_kwargs(self) -> dict[str, Any]:
        c = self.config
        return {
            "learning_rate": c.learning_rate,
            "n_steps": c.n_steps,
            "batch_size": c.batch_size,
            "n_epochs": c.n_epochs,
            "gamma": 0.0,
            "policy_kwargs": {"net_arch": [c.hidden] * c.layers},
        }
