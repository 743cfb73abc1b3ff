"""``gdm``: a conditional diffusion model trained on expert decisions (the AIGX method).

Reads top to bottom: label ``N`` sampled states with the expert, encode the expert decisions
as actions (the scenario's exact encoding), then fit the denoiser by denoising regression
(predict the clean action from a noised one at a random timestep). Decisions come from a
few-step deterministic DDIM chain started from seeded noise, decoded by the scenario, so
they are feasible by construction.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import numpy as np
import torch

from gainnet.core.registry import SOLVERS
from gainnet.core.seeding import int_seed_for, rng_for
from gainnet.core.solver import Budget, Callback, FitReport, TrainingClock
from gainnet.core.validation import check_allocation, setting
from gainnet.errors import GainnetError
from gainnet.solvers.diffusion_solver import (
    MAX_LEARNING_RATE,
    DiffusionConfig,
    DiffusionSolver,
    check_finite,
)


@dataclasses.dataclass(frozen=True)
class GDMConfig(DiffusionConfig):
    """Hyper-parameters of ``gdm`` (and those of :class:`DiffusionConfig`).

    Attributes
    ----------
    num_labels : int
        Expert-labelled instances in the training set (capped by ``Budget.expert_labels``).
    batch_size : int
        Minibatch size.
    learning_rate : float
        Adam's initial step size (at most 1); it decays with a cosine over the budget's progress.
    final_lr_fraction : float
        The learning rate at the end of the budget, as a fraction of the initial one.
    label_candidates : int
        Expert decisions per training instance. 1 imitates the expert's decision; ``k > 1``
        learns the spread of its ``k`` best (:meth:`Expert.propose`), each drawn equally often,
        so that best-of-N candidates cover the neighbouring good decisions where the best one
        jumps between instances (a discontinuous optimum). Meant with ``num_samples > 1``.
    refine_iterations : int
        Steps of the scenario's local refinement (:meth:`Scenario.refine`; interference: WMMSE
        iterations) applied to every sampled candidate before the best is kept: the diffusion
        model then proposes starting points for a local search. 0 (the default) decides with
        the model alone.
    """

    num_labels: int = setting(100_000, low=1, high=10_000_000)
    batch_size: int = setting(256, low=1, high=65_536)
    learning_rate: float = setting(2e-3, gt=0, high=MAX_LEARNING_RATE)
    final_lr_fraction: float = setting(0.02, low=0, high=1)
    label_candidates: int = setting(1, low=1, high=256)
    refine_iterations: int = setting(0, low=0, high=10_000)


def cosine_lr(initial: float, final_fraction: float, progress: float) -> float:
    """Cosine decay from ``initial`` to ``initial * final_fraction`` as progress goes 0 -> 1."""
    return initial * (
        final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))
    )


@SOLVERS.register("gdm")
class GDM(DiffusionSolver):
    """Diffusion model imitating the expert (behaviour cloning by denoising)."""

    Config = GDMConfig
    summary = "conditional diffusion model trained on expert decisions (AIGX)"
    uses_expert = True
    requires = frozenset({"expert"})
    smoke_settings: ClassVar[dict[str, Any]] = {"num_labels": 256, "batch_size": 64}

    def __init__(self, scenario, seed: int = 0, **params) -> None:
        super().__init__(scenario, seed=seed, **params)
        cfg = self.config
        width = scenario.observation_dim + cfg.label_candidates * scenario.action_dim
        check_allocation("gdm training set (num_labels x (observation + label targets))",
                         cfg.num_labels * width, 4)  # fmt: skip

    def fit(self, budget: Budget, expert=None, callback: Callback | None = None) -> FitReport:
        cfg = self.config
        clock = TrainingClock(budget, callback)
        expert = expert if expert is not None else self.scenario.default_expert()
        num_labels = min(cfg.num_labels, budget.expert_labels or cfg.num_labels)
        state = self.scenario.sample(num_labels, rng_for(self.seed, "train"))
        k = cfg.label_candidates
        if k == 1:
            return self._fit_encoded(state, expert.solve(state), None, clock)
        proposals = expert.propose(state, k)  # [k, N, ...], best first
        target = np.stack([self.scenario.encode(state, d) for d in proposals], axis=1)
        observation = torch.from_numpy(self.scenario.observe(state))
        target_t = torch.from_numpy(target.astype(np.float32))  # [N, k, action_dim]
        return self._train(observation, target_t, None, clock, num_labels)

    def fit_labelled(
        self,
        state,
        decision: np.ndarray,
        budget: Budget,
        sample_weight: np.ndarray | None = None,
        callback: Callback | None = None,
    ) -> FitReport:
        """Train (or fine-tune, if already fitted) on given expert-labelled instances.

        Parameters
        ----------
        state : StateBatch
            ``N`` labelled instances.
        decision : ndarray, [N, ...]
            The expert's decisions for them.
        sample_weight : ndarray, [N], optional
            Relative probability of drawing each instance into a minibatch (how the
            retraining cycle weighs new against old labels); uniform when omitted.
        """
        if len(decision) != len(state) or len(state) < 1:
            raise GainnetError(
                f"need N >= 1 states and as many decisions, got {len(state)}, {len(decision)}"
            )
        weight = None
        if sample_weight is not None:
            weight = np.asarray(sample_weight, dtype=float)
            if (
                weight.shape != (len(state),)
                or not np.all(np.isfinite(weight))
                or weight.min() < 0
                or weight.sum() <= 0
            ):
                raise GainnetError("sample_weight must be [N], finite, >= 0 and not all zero")
        return self._fit_encoded(state, decision, weight, TrainingClock(budget, callback))

    def _fit_encoded(self, state, decision, weight, clock: TrainingClock) -> FitReport:
        target = self.scenario.encode(state, decision)
        observation = torch.from_numpy(self.scenario.observe(state))
        target_t = torch.from_numpy(target.astype(np.float32))
        weight_t = None if weight is None else torch.from_numpy(weight)
        return self._train(observation, target_t, weight_t, clock, len(state))

    def _train(
        self,
        observation: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None,
        clock: TrainingClock,
        expert_labels: int,
    ) -> FitReport:
        """Denoising regression on ``observation`` [N, obs_dim] -> encoded ``target`` [N, d],
        or ``[N, k, d]``: ``k`` targets per instance, one drawn uniformly per minibatch row."""
        cfg = self.config
        policy = self.policy
        if not self.fitted:
            policy.set_normaliser(observation)
        policy.train()
        self._weights_changed()
        optimiser = torch.optim.Adam(policy.parameters(), lr=cfg.learning_rate)
        generator = torch.Generator().manual_seed(int_seed_for(self.seed, "train"))
        n = observation.shape[0]
        batch = min(cfg.batch_size, n)
        loss_value = float("nan")
        while clock.running():
            for group in optimiser.param_groups:
                group["lr"] = cosine_lr(cfg.learning_rate, cfg.final_lr_fraction, clock.progress)
            if weight is None:
                index = torch.randint(0, n, (batch,), generator=generator)
            else:
                index = torch.multinomial(weight, batch, replacement=True, generator=generator)
            chosen = target[index]
            if chosen.dim() == 3:
                pick = torch.randint(0, chosen.shape[1], (batch,), generator=generator)
                chosen = chosen[torch.arange(batch), pick]
            loss = policy.imitation_loss(observation[index], chosen, generator)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            loss_value = loss.detach().item()
            check_finite(loss_value, "denoising loss", clock.step, "gdm", "learning_rate")
            clock.tick({"loss": loss_value})
        policy.eval()
        self.fitted = True
        return FitReport(
            steps=clock.step,
            seconds=clock.elapsed_s,
            expert_labels=expert_labels,
            metrics={"loss": loss_value},
        )
