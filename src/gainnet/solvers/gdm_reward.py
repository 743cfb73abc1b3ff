"""``gdm-reward``: a diffusion policy trained from the utility alone (no expert, ever).

Reads top to bottom. Each step:

1. draw a batch of states (the environment), let the policy act, perturb the actions with
   Gaussian exploration noise (plus a share of uniformly random actions), decode them and
   observe their utilities;
2. regress a critic ``Q(observation, decision)`` on every utility observed so far (a replay
   buffer; the problem is one-shot, so the target is the utility itself, no bootstrapping);
3. sample actions from the policy *with gradients on* through the whole few-step DDIM chain,
   decode them differentiably and take a gradient step on ``-Q`` (or on ``-utility`` when
   ``gradient="utility"`` and the scenario's utility is differentiable).

Steps 2 and 3 repeat ``updates_per_step`` times per exploration batch (later repeats on
replayed states): where interactions are what is scarce, more learning per interaction.

Why it does not collapse to equal power like the reference code: the sampler has no in-place
clamps (pitfall 5), and the scenario's differentiable decode passes gradient to switched-off
channels (straight-through on [-1, 0]) while a soft penalty keeps actions in [-1, 1].
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from gainnet.core.registry import SOLVERS
from gainnet.core.seeding import int_seed_for, rng_for
from gainnet.core.solver import Budget, Callback, FitReport, TrainingClock
from gainnet.core.validation import check_allocation, setting
from gainnet.errors import InvalidConfigError
from gainnet.solvers.diffusion_solver import (
    MAX_LEARNING_RATE,
    MAX_PARAMETERS,
    DiffusionConfig,
    DiffusionSolver,
    check_finite,
)
from gainnet.solvers.gdm import cosine_lr


@dataclasses.dataclass(frozen=True)
class GDMRewardConfig(DiffusionConfig):
    """Hyper-parameters of ``gdm-reward`` (and those of :class:`DiffusionConfig`).

    Attributes
    ----------
    gradient : str
        ``"critic"``: learn ``Q(observation, decision)`` from observed utilities and follow its
        gradient (works for any black-box utility); ``"utility"``: follow the scenario's own
        differentiable utility (needs ``Scenario.utility_torch``).
    batch_size : int
        States per step (exploration, critic and actor minibatches).
    actor_lr, critic_lr : float
        Adam step sizes, at most 1 (cosine decay over the budget's progress).
    critic_hidden : int
        Width of the critic's two hidden layers.
    replay_size : int
        Most recent (observation, decision, utility) triples the critic learns from.
    explore_std_start, explore_std_end : float
        Std of the Gaussian noise added to actions, decaying linearly over the budget.
    random_fraction : float
        Share of each exploration batch that takes uniformly random actions in [-1, 1].
    warmup_steps : int
        Critic-only steps before the policy starts following it.
    updates_per_step : int
        Critic and policy gradient steps per exploration batch (the update-to-data ratio):
        more learning from the same interactions, at proportionally more compute.
    """

    gradient: Literal["critic", "utility"] = "critic"
    batch_size: int = setting(256, low=1, high=65_536)
    actor_lr: float = setting(1e-3, gt=0, high=MAX_LEARNING_RATE)
    critic_lr: float = setting(1e-3, gt=0, high=MAX_LEARNING_RATE)
    critic_hidden: int = setting(256, low=1, high=4096)
    replay_size: int = setting(200_000, low=1, high=10_000_000)
    explore_std_start: float = setting(0.3, low=0, high=10)
    explore_std_end: float = setting(0.05, low=0, high=10)
    random_fraction: float = setting(0.1, low=0, high=1)
    warmup_steps: int = setting(200, low=0, high=10_000_000)
    updates_per_step: int = setting(1, low=1, high=64)


class Critic(nn.Module):
    """``Q(observation, decision) -> utility`` on standardised inputs; shapes [B, d] -> [B]."""

    def __init__(self, observation_dim: int, decision_dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(observation_dim + decision_dim, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, 1),
        )

    def forward(self, observation: torch.Tensor, decision: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([observation, decision], dim=-1)).squeeze(-1)


class Replay:
    """A ring buffer of float32 arrays."""

    def __init__(self, capacity: int, widths: dict[str, int]) -> None:
        self.capacity, self.size, self.cursor = capacity, 0, 0
        self.data = {k: torch.zeros((capacity, w)) for k, w in widths.items()}

    def add(self, **batch: torch.Tensor) -> None:
        n = next(iter(batch.values())).shape[0]
        index = (self.cursor + torch.arange(n)) % self.capacity
        for key, value in batch.items():
            self.data[key][index] = value.reshape(n, -1)
        self.cursor = int((self.cursor + n) % self.capacity)
        self.size = min(self.size + n, self.capacity)

    def sample(self, n: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        index = torch.randint(0, self.size, (n,), generator=generator)
        return {k: v[index] for k, v in self.data.items()}


@SOLVERS.register("gdm-reward")
class GDMReward(DiffusionSolver):
    """Diffusion policy trained by gradients of a learned critic (or of the utility)."""

    Config = GDMRewardConfig
    summary = "diffusion policy trained from the utility alone (critic + gradient through sampler)"
    uses_expert = False
    requires = frozenset({"decode_torch"})
    smoke_settings: ClassVar[dict[str, Any]] = {
        "batch_size": 32,
        "warmup_steps": 5,
        "replay_size": 4096,
        "critic_hidden": 32,
    }

    def needs(self) -> dict[str, str]:
        needs = super().needs()
        if self.config.gradient == "utility":
            needs["utility_torch"] = "gradient = 'utility'"
        return needs

    def warmup_steps(self) -> int:
        return self.config.warmup_steps

    def __init__(self, scenario, seed: int = 0, **params) -> None:
        super().__init__(scenario, seed=seed, **params)
        cfg = self.config
        width = scenario.observation_dim + scenario.decision_dim + 1
        check_allocation("gdm-reward replay buffer (replay_size x row)", cfg.replay_size * width, 4)
        critic = cfg.critic_hidden * (width + cfg.critic_hidden + 2)
        if critic > MAX_PARAMETERS:
            raise InvalidConfigError(
                f"gdm-reward: critic_hidden = {cfg.critic_hidden} gives {critic:,} critic weights, "
                f"more than {MAX_PARAMETERS:,}"
            )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int_seed_for(seed, "critic") % (2**31))
            self.critic = Critic(
                scenario.observation_dim, scenario.decision_dim, self.config.critic_hidden
            )

    def fit(self, budget: Budget, expert=None, callback: Callback | None = None) -> FitReport:
        cfg, scenario, policy = self.config, self.scenario, self.policy
        clock = TrainingClock(budget, callback)
        rng = rng_for(self.seed, "explore")
        generator = torch.Generator().manual_seed(int_seed_for(self.seed, "train"))
        first = scenario.sample(max(cfg.batch_size, 1024), rng)
        if not self.fitted:
            policy.set_normaliser(torch.from_numpy(scenario.observe(first)))
        replay = Replay(
            cfg.replay_size,
            {"obs": scenario.observation_dim, "decision": scenario.decision_dim, "utility": 1},
        )
        # utilities of random and equal-share actions set the critic's output scale
        probe = scenario.decode(first, rng.uniform(-1, 1, (len(first), scenario.action_dim)))
        probe_utility = scenario.utility(first, probe)
        probe = probe.reshape(len(first), -1)  # the critic sees decisions flattened
        u_mean, u_scale = float(probe_utility.mean()), float(probe_utility.std() + 1e-6)
        d_mean = torch.from_numpy(probe.mean(axis=0).astype(np.float32))
        d_scale = torch.from_numpy((1.0 / (probe.std(axis=0) + 1e-6)).astype(np.float32))

        actor_opt = torch.optim.Adam(policy.parameters(), lr=cfg.actor_lr)
        critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.critic_lr)
        metrics: dict[str, float] = {}
        policy.train()
        self._weights_changed()
        while clock.running():
            progress = clock.progress
            for opt, lr in ((actor_opt, cfg.actor_lr), (critic_opt, cfg.critic_lr)):
                for group in opt.param_groups:
                    group["lr"] = cosine_lr(lr, 0.05, progress)
            # 1. explore
            state = scenario.sample(cfg.batch_size, rng)
            obs = torch.from_numpy(scenario.observe(state))
            with torch.no_grad():
                action = policy.sample(
                    obs, torch.randn(obs.shape[0], scenario.action_dim, generator=generator)
                )
            std = cfg.explore_std_start + (cfg.explore_std_end - cfg.explore_std_start) * progress
            action = action.numpy() + std * rng.standard_normal(action.shape)
            n_random = round(cfg.random_fraction * len(state))
            action[:n_random] = rng.uniform(-1.0, 1.0, (n_random, scenario.action_dim))
            decision = scenario.decode(state, action)
            utility = scenario.utility(state, decision)
            metrics["explore_utility"] = float(utility.mean())
            # 2. critic regression on everything observed (one-shot: the target is the utility)
            replay.add(
                obs=obs,
                decision=torch.from_numpy(decision.reshape(len(state), -1).astype(np.float32)),
                utility=torch.from_numpy(((utility - u_mean) / u_scale).astype(np.float32)),
            )
            for update in range(cfg.updates_per_step):
                # the first update's policy step uses the fresh states, later ones replayed ones
                replayed = cfg.gradient == "critic" or update > 0
                batch = replay.sample(cfg.batch_size, generator) if replayed else {}
                actor_obs = obs if update == 0 else batch["obs"]
                if cfg.gradient == "critic":
                    q = self.critic(
                        policy.normalise(batch["obs"]), (batch["decision"] - d_mean) * d_scale
                    )
                    critic_loss = torch.mean((q - batch["utility"].squeeze(-1)) ** 2)
                    critic_opt.zero_grad(set_to_none=True)
                    critic_loss.backward()
                    critic_opt.step()
                    metrics["critic_loss"] = critic_loss.detach().item()
                    check_finite(
                        metrics["critic_loss"], "critic loss", clock.step, self.name, "critic_lr"
                    )
                # 3. policy step through the differentiable sampler
                if clock.step >= cfg.warmup_steps or cfg.gradient == "utility":
                    noise = torch.randn(
                        actor_obs.shape[0], scenario.action_dim, generator=generator
                    )
                    action_t = policy.sample(actor_obs, noise)
                    decision_t = scenario.decode_torch(actor_obs, action_t)
                    if cfg.gradient == "critic":
                        value = self.critic(
                            policy.normalise(actor_obs), (decision_t - d_mean) * d_scale
                        )
                    else:
                        value = (scenario.utility_torch(actor_obs, decision_t) - u_mean) / u_scale
                    bound = torch.relu(action_t.abs() - 1.0).pow(2).sum(dim=-1)
                    actor_loss = (-value + bound).mean()
                    actor_opt.zero_grad(set_to_none=True)
                    actor_loss.backward()
                    actor_opt.step()
                    metrics["actor_value"] = value.detach().mean().item()
                    check_finite(
                        actor_loss.detach().item(), "actor loss", clock.step, self.name, "actor_lr"
                    )
            clock.tick(metrics)
        policy.eval()
        self._weights_changed()
        self.fitted = True
        return FitReport(
            steps=clock.step, seconds=clock.elapsed_s, expert_labels=0, metrics=metrics
        )

    def weights(self) -> dict[str, torch.Tensor]:
        tensors = dict(self.policy.state_dict())
        tensors.update({f"critic.{k}": v for k, v in self.critic.state_dict().items()})
        return tensors

    def load_weights(self, tensors: dict[str, torch.Tensor]) -> None:
        critic = {k[len("critic.") :]: v for k, v in tensors.items() if k.startswith("critic.")}
        self.critic.load_state_dict(critic, strict=True)
        super().load_weights({k: v for k, v in tensors.items() if not k.startswith("critic.")})
