"""The model a federation trains: an imitation-trained diffusion solver on a scenario.

:class:`DiffusionTask` is the only place that knows the model. Sites and the server call it
for: each site's labelled data (:meth:`site_data`), the observation moments a site reports
(:meth:`observation_moments`), local training with an optional proximal term
(:meth:`local_train`), and the server's evaluation against the expert on a pooled test set
(:meth:`evaluate`). Weights travel as ``dict[str, float32 ndarray]`` in the solver's
``state_dict`` order.

The observation normaliser is not learned by gradient: the server sets it once from the
moments the sites report in the first query round (a federated mean and standard deviation)
and imposes it on every aggregate, so no site (honest or not) can move it.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any

import numpy as np
import torch

from gainnet.core.scenario import Scenario, StateBatch
from gainnet.core.seeding import int_seed_for, rng_for
from gainnet.core.validation import check_allocation
from gainnet.errors import GainnetError
from gainnet.federated.config import FederationConfig, SiteSpec
from gainnet.registry import make_scenario, make_solver
from gainnet.solvers.gdm import cosine_lr

Weights = dict[str, np.ndarray]
#: the normaliser buffers the server sets (never averaged)
NORMALISER = ("obs_mean", "obs_scale")


@dataclasses.dataclass(frozen=True)
class SiteData:
    """A site's training set: ``state`` (n instances) and the labels it claims, ``decision``
    ``[n, ...]``; ``observation`` ``[n, obs_dim]`` and encoded ``target`` ``[n, action_dim]``
    as float32 tensors for training."""

    state: StateBatch
    decision: np.ndarray
    observation: torch.Tensor
    target: torch.Tensor

    @property
    def num_examples(self) -> int:
        return len(self.state)


def make_task(config: FederationConfig):
    """The task of ``config.task``: :class:`DiffusionTask` (``solver``) or
    :class:`~gainnet.federated.csi_task.CsiCodecTask` (``csi-codec``)."""
    if config.task == "csi-codec":
        from gainnet.federated.csi_task import CsiCodecTask

        return CsiCodecTask(config)
    return DiffusionTask(config)


class FederatedTask:
    """What every task shares: the sites' conditions per round and the step-size schedule.

    A task also provides ``frozen`` (weights the server imposes), ``site_data``,
    ``observation_moments`` / ``start_from_moments`` (round 1), ``initial_weights``, ``load``,
    ``local_train``, ``pool``, ``test_set``, ``evaluate`` and ``save``
    (:class:`DiffusionTask`, :class:`~gainnet.federated.csi_task.CsiCodecTask`)."""

    config: FederationConfig

    def conditions(self, site: SiteSpec, round_index: int) -> tuple[dict[str, Any], int]:
        """``(params, data version)`` of a site in a round: version 1 after its drift."""
        if site.drift_round and round_index >= site.drift_round:
            return site.drift_params, 1
        return site.params, 0

    def round_learning_rate(self, round_index: int) -> float:
        """Round ``r``'s local step size: cosine from ``learning_rate`` over the rounds."""
        cfg = self.config
        return cosine_lr(cfg.learning_rate, cfg.final_lr_fraction, (round_index - 1) / cfg.rounds)


def proximal_term(params: list[torch.Tensor], anchor: list[torch.Tensor]) -> torch.Tensor:
    """FedProx's ``||w - w_start||^2`` over the trainable parameters."""
    return sum(((p - a) ** 2).sum() for p, a in zip(params, anchor, strict=True))


class DiffusionTask(FederatedTask):
    """Federated training of ``config.solver`` (``gdm`` from expert labels, or ``gdm-reward``
    from the scenario's differentiable utility) on ``config.scenario`` with every site's own
    conditions."""

    #: weights the server sets from the sites' moments and imposes on every aggregate
    frozen = NORMALISER

    def __init__(self, config: FederationConfig) -> None:
        self.config = config
        self.scenario = make_scenario(config.scenario, **config.scenario_params)
        self.solver = make_solver(
            config.solver, self.scenario, seed=config.seed, **config.solver_params
        )
        policy = getattr(self.solver, "policy", None)
        if policy is None or not hasattr(policy, "imitation_loss"):
            raise GainnetError(
                f"federated training needs a diffusion solver (gdm, gdm-reward); "
                f"{config.solver!r} is not one"
            )
        #: a reward-trained solver (gdm-reward) follows the scenario's differentiable utility
        self.reward_trained = not self.solver.uses_expert
        if self.reward_trained and getattr(self.solver.config, "gradient", None) != "utility":
            raise GainnetError(
                f"federated {config.solver} follows the scenario's differentiable utility: "
                "set solver_params.gradient = 'utility' (a learned critic is not federated)"
            )
        width = self.scenario.observation_dim + 2 * self.scenario.action_dim
        labels = sum(site.num_labels for site in config.sites)
        check_allocation("the sites' data (sum of num_labels x state and label)", labels * width)
        check_allocation(
            "the server's test set (eval_instances_per_site x sites x state and label)",
            config.eval_instances_per_site * len(config.sites) * width,
        )
        self.batch_size = int(getattr(self.solver.config, "batch_size", 256))
        self._initial = {k: v.detach().numpy().copy() for k, v in self.solver.weights().items()}
        for i, site in enumerate(config.sites):
            for params in (site.params, site.drift_params):
                scenario = self.site_scenario(site, params)
                dims = (scenario.observation_dim, scenario.action_dim)
                if dims != (self.scenario.observation_dim, self.scenario.action_dim):
                    raise GainnetError(
                        f"site {i} ({site.name!r}) has observations/actions of {dims}, not the "
                        f"federation's {(self.scenario.observation_dim, self.scenario.action_dim)}"
                    )

    # ----------------------------------------------------------------- scenarios and data
    def site_scenario(self, site: SiteSpec, params: dict[str, Any] | None = None) -> Scenario:
        """The scenario of a site's conditions (``params``: its own, or its drifted ones)."""
        params = site.params if params is None else params
        return _scenario(self.config.scenario, _freeze({**self.config.scenario_params, **params}))

    def site_data(self, site_index: int, round_index: int, behaviour: str = "honest") -> SiteData:
        """What site ``site_index`` holds in ``round_index``: ``num_labels`` states of its
        conditions labelled by the exact expert, or, for a fabricating site, invented."""
        site = self.config.sites[site_index]
        params, version = self.conditions(site, round_index)
        return self._data(site_index, _freeze(params), version, behaviour)

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one task per federation, a few sites
    def _data(self, site_index: int, params: tuple, version: int, behaviour: str) -> SiteData:
        site = self.config.sites[site_index]
        scenario = self.site_scenario(site, dict(params))
        rng = rng_for(self.config.seed, f"site-data-{site_index}-{version}")
        state = scenario.sample(site.num_labels, rng)
        decision = scenario.default_expert().solve(state)
        if behaviour == "wrong-labels":
            decision = self._random_decisions(scenario, state, rng)
        elif behaviour == "made-up-states":
            invented = self.scenario.sample(site.num_labels, rng)  # the shared conditions
            state = _perturbed(invented, rng)
            decision = scenario.default_expert().solve(scenario.sample(site.num_labels, rng))
        observation = torch.from_numpy(scenario.observe(state).astype(np.float32))
        target = torch.from_numpy(scenario.encode(state, decision).astype(np.float32))
        return SiteData(state, decision, observation, target)

    def _random_decisions(self, scenario: Scenario, state: StateBatch, rng) -> np.ndarray:
        """Feasible but arbitrary decisions: a random action decoded by the scenario."""
        action = rng.standard_normal((len(state), scenario.action_dim))
        return scenario.decode(state, action)

    def observation_moments(self, data: SiteData) -> dict[str, Any]:
        """``count``, per-dimension ``sum`` and ``sum_sq`` of a site's observations."""
        x = data.observation.double()
        return {
            "count": int(x.shape[0]),
            "sum": x.sum(dim=0).tolist(),
            "sum_sq": (x * x).sum(dim=0).tolist(),
        }

    def pool(self, parts: list[SiteData]) -> SiteData:
        """Several sites' data as one training set (the centralised yardstick)."""
        return SiteData(
            state=type(parts[0].state).concat([p.state for p in parts]),
            decision=np.concatenate([p.decision for p in parts]),
            observation=torch.cat([p.observation for p in parts]),
            target=torch.cat([p.target for p in parts]),
        )

    def save(self, weights: Weights, directory) -> Any:
        """``weights`` as a gainnet solver checkpoint (``gainnet evaluate`` reads it)."""
        self.load(weights)
        return self.solver.save(directory)

    def start_from_moments(self, weights: Weights, moments: list[dict[str, Any]]) -> Weights:
        """The model of round 1: ``weights`` with the normaliser of the sites' pooled moments."""
        return {**weights, **self.normaliser_from_moments(moments)}

    @staticmethod
    def normaliser_from_moments(moments: list[dict[str, Any]]) -> Weights:
        """The pooled mean and ``1 / std`` (unbiased, floored at 1e-6) from sites' moments."""
        count = sum(float(m["count"]) for m in moments)
        total = np.sum([np.asarray(m["sum"], np.float64) for m in moments], axis=0)
        total_sq = np.sum([np.asarray(m["sum_sq"], np.float64) for m in moments], axis=0)
        mean = total / count
        var = np.maximum(total_sq - count * mean**2, 0.0) / max(count - 1.0, 1.0)
        scale = 1.0 / np.maximum(np.sqrt(var), 1e-6)
        return {"obs_mean": mean.astype(np.float32), "obs_scale": scale.astype(np.float32)}

    # ----------------------------------------------------------------- weights
    def initial_weights(self) -> Weights:
        """The seeded initial model (normaliser still the identity)."""
        return {k: v.copy() for k, v in self._initial.items()}

    def load(self, weights: Weights) -> None:
        """Put ``weights`` into the task's solver (checked: names, shapes, finite)."""
        current = self.solver.weights()
        if set(weights) != set(current):
            raise GainnetError("weights do not match the federation's model (tensor names)")
        tensors = {}
        for k, ref in current.items():
            value = np.asarray(weights[k], dtype=np.float32)
            if value.shape != tuple(ref.shape) or not np.all(np.isfinite(value)):
                raise GainnetError(f"weight tensor {k!r} is malformed (shape or non-finite)")
            tensors[k] = torch.from_numpy(value.copy())
        self.solver.load_weights(tensors)

    # ----------------------------------------------------------------- training
    def local_train(
        self,
        weights: Weights,
        data: SiteData,
        steps: int,
        learning_rate: float,
        proximal_mu: float,
        seed_stream: str,
    ) -> tuple[Weights, float, float]:
        """``steps`` Adam steps from ``weights`` on ``data``: denoising regression on the
        expert labels (``gdm``), or, for a reward-trained solver (``gdm-reward``), ascent on the
        scenario's differentiable utility of the policy's own decisions on the site's states
        (its labels unused), scaled by the spread of random decisions' utility there.

        With ``proximal_mu > 0`` (FedProx) the loss adds ``(mu / 2) ||w - w_start||^2`` over
        the trainable parameters. Returns ``(new weights, mean loss over the steps, measured
        seconds)``: the denoising loss, or ``softplus(-normalised utility)`` (positive,
        falling as the utility rises) for a reward-trained solver; minibatches and noise come
        from ``(seed, seed_stream)``.
        """
        start = time.perf_counter()
        self.load(weights)
        policy = self.solver.policy
        policy.train()
        params = list(policy.parameters())
        anchor = [p.detach().clone() for p in params]
        optimiser = torch.optim.Adam(params, lr=learning_rate)
        generator = torch.Generator().manual_seed(int_seed_for(self.config.seed, seed_stream))
        n = data.observation.shape[0]
        batch = min(self.batch_size, n)
        scale = self._utility_scale(data) if self.reward_trained else 1.0
        total = 0.0
        for _ in range(steps):
            index = torch.randint(0, n, (batch,), generator=generator)
            if self.reward_trained:
                observation = data.observation[index]
                noise = torch.randn(batch, self.scenario.action_dim, generator=generator)
                action = policy.sample(observation, noise)
                decision = self.scenario.decode_torch(observation, action)
                value = self.scenario.utility_torch(observation, decision) / scale
                bound = torch.relu(action.abs() - 1.0).pow(2).sum(dim=-1)
                loss = (-value + bound).mean()
                total += float(torch.nn.functional.softplus(-value.detach()).mean())
            else:
                loss = policy.imitation_loss(data.observation[index], data.target[index], generator)
                total += float(loss.detach())
            if proximal_mu > 0:
                loss = loss + 0.5 * proximal_mu * proximal_term(params, anchor)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        policy.eval()
        if not np.isfinite(total):
            raise GainnetError(f"local training diverged ({seed_stream}): use a smaller lr")
        new = {k: v.detach().numpy().copy() for k, v in self.solver.weights().items()}
        return new, total / max(steps, 1), time.perf_counter() - start

    def _utility_scale(self, data: SiteData) -> float:
        """The standard deviation of the utility of random decisions on (up to 256 of) the
        site's states: the reward's unit, as ``gdm-reward`` scales its own."""
        state = data.state.take(slice(0, 256))
        rng = np.random.default_rng(0)
        action = rng.uniform(-1.0, 1.0, (len(state), self.scenario.action_dim))
        utility = self.scenario.utility(state, self.scenario.decode(state, action))
        return float(utility.std() + 1e-6)

    # ----------------------------------------------------------------- evaluation
    def test_set(self) -> tuple[StateBatch, np.ndarray]:
        """The server's pooled held-out test set, ``eval_instances_per_site`` from every
        site's final conditions, and the expert's utility on each ``[n]``."""
        states, utilities = [], []
        for i, site in enumerate(self.config.sites):
            params, _ = self.conditions(site, self.config.rounds)
            scenario = self.site_scenario(site, params)
            state = scenario.sample(
                self.config.eval_instances_per_site, rng_for(self.config.seed, f"eval-site-{i}")
            )
            states.append(state)
            utilities.append(scenario.utility(state, scenario.default_expert().solve(state)))
        return type(states[0]).concat(states), np.concatenate(utilities)

    def evaluate(
        self, weights: Weights, state: StateBatch, expert_utility: np.ndarray
    ) -> dict[str, float]:
        """``ratio`` (mean utility over the expert's), ``p05_ratio`` and ``feasible_rate`` of
        the model ``weights`` on ``state``."""
        self.load(weights)
        decision = self.solver.decide(state)
        utility = self.scenario.utility(state, decision)
        with np.errstate(divide="ignore", invalid="ignore"):
            per = np.where(expert_utility > 0, utility / expert_utility, 1.0)
        return {
            "ratio": float(utility.mean() / expert_utility.mean()),
            "p05_ratio": float(np.percentile(per, 5)),
            "feasible_rate": float(self.scenario.is_feasible(state, decision).mean()),
        }


def _freeze(params: dict[str, Any]) -> tuple:
    """A hashable copy of scenario parameters (lists become tuples)."""
    return tuple(
        sorted((k, tuple(v) if isinstance(v, list | tuple) else v) for k, v in params.items())
    )


@functools.lru_cache(maxsize=128)
def _scenario(name: str, params: tuple) -> Scenario:
    return make_scenario(name, **dict(params))


def _perturbed(state: StateBatch, rng: np.random.Generator) -> StateBatch:
    """Invented states: every array field of ``state`` rescaled by a random factor in [0.5, 2]."""
    fields = {}
    for f in dataclasses.fields(state):
        value = getattr(state, f.name)
        factor = rng.uniform(0.5, 2.0, size=value.shape)
        fields[f.name] = value * factor if np.issubdtype(value.dtype, np.floating) else value
    return type(state)(**fields)
