"""What the two diffusion solvers share: their config base, the policy, deciding, saving."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from gainnet.core.scenario import StateBatch
from gainnet.core.seeding import int_seed_for, rng_for
from gainnet.core.solver import Solver
from gainnet.core.validation import Validated, setting
from gainnet.diffusion.numpy_sampler import NumpySampler
from gainnet.diffusion.policy import DiffusionPolicy
from gainnet.diffusion.schedules import DDIMCoefficients, make_ddim_scheduler
from gainnet.errors import GainnetError, InvalidConfigError

NOISE_CHUNK_ROWS = 1024
#: batches up to this size use the NumPy inference path, larger ones torch
NUMPY_MAX_BATCH = 32
#: the most weights a denoiser (or critic) may have: 80 MB of float32, Adam's state x3
MAX_PARAMETERS = 20_000_000
#: largest learning rate any diffusion solver accepts (above it training only diverges)
MAX_LEARNING_RATE = 1.0


@dataclasses.dataclass(frozen=True)
class DiffusionConfig(Validated):
    """Hyper-parameters every diffusion solver has.

    Attributes
    ----------
    hidden, layers : int
        Width (1..4096) and depth (1..64) of the MLP denoiser; at most 20 million weights.
    num_train_timesteps : int
        Length of the diffusion chain in training (1..10,000).
    num_inference_steps : int
        DDIM steps per decision, the latency knob (1..num_train_timesteps).
    num_samples : int
        Candidates per decision (1..1024); above 1 the best by the scenario's utility is kept,
        which needs a utility the decision maker can evaluate.
    candidate_spread : float
        Standard deviation (action units, 0..10) of Gaussian noise added to the sampled actions
        of candidates ``1..k-1`` before decoding (candidate 0 is left as sampled). A deterministic
        DDIM chain of a well-fitted denoiser maps different initial noise to nearly the same
        action, so best-of-k alone explores little; the spread makes the candidates search the
        neighbourhood of the learned proposal (with ``refine_iterations``, a local search from
        each). 0 (the default) keeps the candidates as sampled.
    """

    hidden: int = setting(128, low=1, high=4096)
    layers: int = setting(3, low=1, high=64)
    num_train_timesteps: int = setting(100, low=1, high=10_000)
    num_inference_steps: int = setting(3, low=1, high=10_000)
    num_samples: int = setting(1, low=1, high=1024)
    candidate_spread: float = setting(0.0, low=0.0, high=10.0)

    def check(self) -> None:
        if self.num_inference_steps > self.num_train_timesteps:
            raise InvalidConfigError(
                f"num_inference_steps ({self.num_inference_steps}) cannot exceed "
                f"num_train_timesteps ({self.num_train_timesteps})"
            )
        body = (self.layers - 1) * self.hidden * (self.hidden + 1)
        if body > MAX_PARAMETERS:
            raise InvalidConfigError(
                f"hidden = {self.hidden} and layers = {self.layers} give {body:,} weights, more "
                f"than the {MAX_PARAMETERS:,} gainnet allows: use a smaller network"
            )


def check_finite(value: float, what: str, step: int, solver: str, knob: str) -> None:
    """Stop a diverged training with a clear error instead of silently learning nothing."""
    if not math.isfinite(value):
        raise GainnetError(
            f"{solver} training diverged at step {step}: the {what} is {value}; "
            f"use a smaller {knob}"
        )


class DiffusionSolver(Solver):
    """Base of ``gdm`` and ``gdm-reward``, whose ``Config`` derives from
    :class:`DiffusionConfig`.

    Decisions use fixed initial noise: row ``i`` of every batch starts from the ``i``-th row of
    one seeded Gaussian stream, so the same state batch always gets the same decisions.
    """

    def needs(self) -> dict[str, str]:
        needs = super().needs()
        if self.config.num_samples > 1:
            needs["observable_utility"] = f"best-of-{self.config.num_samples} decisions"
        if getattr(self.config, "refine_iterations", 0) > 0:
            needs["refine"] = "refine_iterations > 0"
        return needs

    def __init__(self, scenario, seed: int = 0, **params) -> None:
        super().__init__(scenario, seed=seed, **params)
        cfg = self.config
        first = cfg.hidden * (scenario.observation_dim + 2 * scenario.action_dim + 16)
        if first > MAX_PARAMETERS:
            raise InvalidConfigError(
                f"{self.name}: hidden = {cfg.hidden} with observations of "
                f"{scenario.observation_dim} values give {first:,} input weights, more than "
                f"{MAX_PARAMETERS:,}"
            )
        with torch.random.fork_rng(devices=[]):  # seeded init, global RNG left untouched
            torch.manual_seed(int_seed_for(seed, "init") % (2**31))
            self.policy = DiffusionPolicy(
                scenario.observation_dim,
                scenario.action_dim,
                cfg.hidden,
                cfg.layers,
                cfg.num_train_timesteps,
                cfg.num_inference_steps,
            )
        self.policy.eval()
        self._sampler: NumpySampler | None = None
        self._noise_rng = rng_for(seed, "solver")
        self._noise_block = np.zeros((0, scenario.action_dim), dtype=np.float32)

    def set_inference_steps(self, steps: int) -> None:
        """Change the denoising steps per decision (the latency knob) without retraining: the
        denoiser is trained on every timestep, so any number of DDIM steps can sample it."""
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise GainnetError(f"num_inference_steps must be an integer >= 1, got {steps!r}")
        self.config = self.config.replace(num_inference_steps=steps)
        scheduler = make_ddim_scheduler(int(self.config.num_train_timesteps))
        self.policy.coefficients = DDIMCoefficients.from_scheduler(scheduler, steps)
        self._weights_changed()

    def _weights_changed(self) -> None:
        """Drop the exported inference copy (call whenever the policy's weights change)."""
        self._sampler = None

    def _noise(self, n: int) -> np.ndarray:
        """The first ``n`` rows of this solver's fixed initial-noise stream, [n, action_dim]."""
        while self._noise_block.shape[0] < n:
            chunk = self._noise_rng.standard_normal((NOISE_CHUNK_ROWS, self.scenario.action_dim))
            self._noise_block = np.concatenate([self._noise_block, chunk.astype(np.float32)])
        return self._noise_block[:n]

    def _candidate_noise(self, n: int, extra: int, purpose: str = "candidates") -> np.ndarray:
        """Standard Gaussian noise for candidates ``1..extra`` of rows ``0..n-1``,
        ``[extra, n, action_dim]`` (``purpose``: initial noise or spread): row ``i`` always gets
        the same candidates, whatever the batch (a seeded stream per row block)."""
        stream = rng_for(self.seed, f"{purpose}-{extra}")
        block = stream.standard_normal((n, extra, self.scenario.action_dim)).astype(np.float32)
        return block.transpose(1, 0, 2)

    def act(self, observation: np.ndarray, noise: np.ndarray | None = None) -> np.ndarray:
        """Raw actions ``[n, action_dim]`` for observations ``[n, observation_dim]``.

        Small batches run on the NumPy export (no per-operator dispatch cost); large ones on
        torch, whose thread count the caller controls (NumPy's BLAS may start threads of its
        own that collapse on a busy 2-core machine). Both compute the same chain.
        """
        observation = np.asarray(observation, dtype=np.float32)
        noise = self._noise(observation.shape[0]) if noise is None else noise
        if observation.shape[0] > NUMPY_MAX_BATCH:
            with torch.inference_mode():
                return self.policy.sample(
                    torch.from_numpy(observation), torch.from_numpy(noise)
                ).numpy()
        if self.policy.training:  # called mid-fit (e.g. a learning-curve callback): no caching
            sampler = self.policy.export_numpy()
        else:
            if self._sampler is None:
                self._sampler = self.policy.export_numpy()
            sampler = self._sampler
        return sampler.sample(observation, noise)

    def decide(self, state: StateBatch) -> np.ndarray:
        """Decisions ``[n, ...]``. With ``num_samples = k > 1``: best of ``k`` sampled
        candidates per instance, scored by the scenario's utility in one batched call
        (candidate 0 is the ``k = 1`` decision, so best-of-k is never worse on the same noise);
        candidates ``1..k-1`` get ``candidate_spread`` noise on their actions before decoding.
        """
        observation = self.scenario.observe(state)
        k = self.config.num_samples
        if k <= 1:
            return self._refined(state, self.scenario.decode(state, self.act(observation)))
        n = len(observation)
        noise = np.concatenate([self._noise(n)[None], self._candidate_noise(n, k - 1)])
        tiled = np.tile(np.arange(n), k)
        actions = self.act(np.tile(observation, (k, 1)), noise.reshape(k * n, -1))
        spread = self.config.candidate_spread
        if spread > 0:
            jitter = spread * self._candidate_noise(n, k - 1, "spread").reshape((k - 1) * n, -1)
            actions = np.concatenate([actions[:n], actions[n:] + jitter])
        many = state.take(tiled)
        decisions = self._refined(many, self.scenario.decode(many, actions))
        utility = self.scenario.utility(many, decisions).reshape(k, n)
        best = np.argmax(utility, axis=0)  # ties: the first, i.e. candidate 0
        return decisions.reshape(k, n, *decisions.shape[1:])[best, np.arange(n)]

    def _refined(self, state: StateBatch, decisions: np.ndarray) -> np.ndarray:
        """Decisions after ``refine_iterations`` of the scenario's local refinement (if > 0)."""
        iterations = getattr(self.config, "refine_iterations", 0)
        if iterations <= 0:
            return decisions
        return self.scenario.refine(state, decisions, iterations)

    def weights(self) -> dict[str, torch.Tensor]:
        return dict(self.policy.state_dict())

    def load_weights(self, tensors: dict[str, torch.Tensor]) -> None:
        self.policy.load_state_dict(tensors, strict=True)
        self.policy.eval()
        self._weights_changed()
        self.fitted = True
