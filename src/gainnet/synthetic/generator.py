"""A trained generative channel model: settings, training, generation and checkpoints.

:class:`ChannelGenerator` wraps a conditional diffusion model
(:mod:`~gainnet.synthetic.diffusion_generator`) or a WGAN-GP
(:mod:`~gainnet.synthetic.gan_generator`) of the channel vectors of
:mod:`~gainnet.synthetic.representation`, with the standardisation of its conditions and
vectors. ``fit(h, conditions)`` trains on a dataset's channels; ``generate(conditions, rng)``
returns channels in the datasets' format, ``H [n, 1, num_bs_antennas, num_subcarriers]``.

A checkpoint directory holds ``generator.json`` (settings, channel shape, scenarios, what it
was trained on), ``weights.safetensors`` (the network and the standardisation) and
``SHA256SUMS``; loading checks every digest, the JSON and every tensor's name, dtype and shape
before reading a weight (no pickle).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from gainnet.core.seeding import int_seed_for
from gainnet.core.validation import Validated, setting
from gainnet.errors import CheckpointError, InvalidConfigError, InvalidStateError
from gainnet.synthetic.conditions import check_conditions, condition_dim
from gainnet.synthetic.diffusion_generator import DiffusionChannelModel
from gainnet.synthetic.gan_generator import GanChannelModel
from gainnet.synthetic.representation import (
    ChannelShape,
    align_to_user,
    los_spatial_frequency,
)

KINDS = ("diffusion", "gan")
FORMAT, VERSION = "gainnet-channel-generator", 1
CONFIG_FILE, WEIGHTS_FILE = "generator.json", "weights.safetensors"
MAX_CONFIG_BYTES = 1 << 16
#: channels generated per batch (memory stays a few tens of MB)
GENERATE_BATCH = 4096


@dataclasses.dataclass(frozen=True)
class GeneratorConfig(Validated):
    """Settings of a generative channel model.

    Attributes
    ----------
    kind : str
        ``diffusion`` (v-prediction DDPM, DDIM sampling) or ``gan`` (WGAN-GP).
    hidden, blocks : int
        Width and residual blocks of each network.
    steps : int
        Optimiser steps (GAN: generator steps, each after ``critic_steps`` critic steps).
    batch_size, learning_rate : int, float
        Adam's batch and peak learning rate (cosine decay to zero over ``steps``).
    num_train_timesteps, num_inference_steps : int
        Diffusion: the schedule's length and the DDIM steps of generation.
    noise_dim, critic_steps, gp_weight : int, int, float
        GAN: latent noise size, critic steps per generator step, gradient-penalty weight.
    latent_dim, latent_energy : int, float
        Both model the channel's direction in the KLT of their training channels: the
        strongest coefficients, at most ``latent_dim`` and no more than hold ``latent_energy``
        of the variance, each scaled to unit variance (the rest are zero in every output;
        ``benchmarks/synthetic_generators.py`` found 99 % better than 99.9 %).
    ema_decay : float
        The sampling network (denoiser, GAN generator) keeps the exponential moving average of
        its weights over training, this decay per step (0: the last weights).
    align_to_user : bool
        Model channels aligned to their user's line-of-sight direction
        (:func:`~gainnet.synthetic.representation.align_to_user`; its position is in the
        condition), shifted back after generation.
    """

    kind: str = setting("diffusion", choices=KINDS)
    hidden: int = setting(512, low=8, high=4096)
    blocks: int = setting(3, low=1, high=16)
    steps: int = setting(4000, low=1, high=1_000_000)
    batch_size: int = setting(128, low=2, high=65_536)
    learning_rate: float = setting(1e-3, gt=0.0, high=1.0)
    num_train_timesteps: int = setting(1000, low=2, high=10_000)
    num_inference_steps: int = setting(10, low=1, high=1000)
    noise_dim: int = setting(64, low=1, high=4096)
    critic_steps: int = setting(5, low=1, high=100)
    gp_weight: float = setting(10.0, low=0.0, high=1e6)
    latent_dim: int = setting(256, low=1, high=1 << 16)
    latent_energy: float = setting(0.99, gt=0.0, high=1.0)
    align_to_user: bool = True
    ema_decay: float = setting(0.999, low=0.0, lt=1.0)

    def check(self) -> None:
        if self.num_inference_steps > self.num_train_timesteps:
            raise InvalidConfigError("num_inference_steps must be <= num_train_timesteps")


class ChannelGenerator:
    """A conditional generator of ``shape``'s channels for ``num_scenarios`` scenarios."""

    def __init__(
        self, config: GeneratorConfig, shape: ChannelShape, num_scenarios: int = 1, seed: int = 0
    ) -> None:
        if (
            isinstance(num_scenarios, bool)
            or not isinstance(num_scenarios, int)
            or not (1 <= num_scenarios <= 64)
        ):
            raise InvalidStateError(
                f"num_scenarios must be an integer in 1..64, got {num_scenarios!r}"
            )
        self.config, self.shape, self.num_scenarios, self.seed = config, shape, num_scenarios, seed
        self.condition_dim = condition_dim(num_scenarios)
        self.model: torch.nn.Module | None = None  # built by fit or load (its size is the latent's)
        self.scales: dict[str, torch.Tensor] = {}
        self.training: dict = {}

    def _build(self, latent_dim: int) -> None:
        """The network for ``latent_dim`` KLT coefficients plus the gain, and empty scales."""
        cfg, dim = self.config, latent_dim + 1
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int_seed_for(self.seed, "generator-init") % (2**31))
            if cfg.kind == "diffusion":
                self.model = DiffusionChannelModel(
                    dim, self.condition_dim, cfg.hidden, cfg.blocks,
                    cfg.num_train_timesteps, cfg.num_inference_steps,
                )  # fmt: skip
            else:
                self.model = GanChannelModel(
                    dim, self.condition_dim, cfg.hidden, cfg.blocks, cfg.noise_dim
                )
        self.model.eval()
        direction = self.shape.vector_dim - 1
        self.scales = {
            "condition_mean": torch.zeros(self.condition_dim),
            "condition_scale": torch.ones(self.condition_dim),
            "direction_mean": torch.zeros(direction),
            "basis": torch.zeros(direction, latent_dim),
            "latent_scale": torch.ones(latent_dim),
            "gain_db": torch.tensor([0.0, 1.0]),  # mean and spread
        }

    @property
    def latent_dim(self) -> int:
        return 0 if self.model is None else int(self.scales["basis"].shape[1])

    def _check_trained(self) -> torch.nn.Module:
        if self.model is None:
            raise InvalidStateError("the generator is not trained: call fit or load one")
        return self.model

    # --------------------------------------------------------------- standardisation
    def _fit_scales(self, vectors: torch.Tensor, conditions: torch.Tensor) -> None:
        """Build the network and set the standardisation from the training rows. Conditions:
        per-column mean and spread (one-hot and constant columns keep scale 1). Directions: the
        KLT of the training directions, the fewest strongest coefficients holding
        ``latent_energy`` of the variance (at most ``latent_dim`` and one fewer than the
        channels), each scaled to unit variance. Gain: mean and spread."""
        direction = vectors[:, :-1].double()
        mean = direction.mean(dim=0)
        _, singular, vh = torch.linalg.svd(direction - mean, full_matrices=False)
        variance = singular**2 / max(len(direction) - 1, 1)
        share = torch.cumsum(variance, 0) / variance.sum().clamp_min(1e-300)
        target = torch.tensor(self.config.latent_energy, dtype=share.dtype)
        needed = int(torch.searchsorted(share, target)) + 1
        size = max(1, min(needed, self.config.latent_dim, len(direction) - 1, len(variance)))
        self._build(size)
        spread = conditions.std(dim=0)
        self.scales["condition_mean"] = conditions.mean(dim=0)
        self.scales["condition_scale"] = torch.where(
            spread > 1e-6, 1 / spread, torch.ones_like(spread)
        )
        self.scales["direction_mean"] = mean.float()
        self.scales["basis"] = vh[:size].T.float().contiguous()
        self.scales["latent_scale"] = (1 / variance[:size].sqrt().clamp_min(1e-6)).float()
        gain = vectors[:, -1].double()
        self.scales["gain_db"] = torch.stack([gain.mean(), gain.std().clamp_min(1e-3)]).float()

    def to_latent(self, vectors: torch.Tensor) -> torch.Tensor:
        """``[n, vector_dim] -> [n, latent_dim + 1]``: standardised KLT coefficients, gain."""
        s = self.scales
        z = (vectors[:, :-1] - s["direction_mean"]) @ s["basis"] * s["latent_scale"]
        gain = (vectors[:, -1:] - s["gain_db"][0]) / s["gain_db"][1]
        return torch.cat([z, gain], dim=1)

    def from_latent(self, latent: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`to_latent` (the dropped KLT coefficients are zero)."""
        s = self.scales
        direction = (latent[:, :-1] / s["latent_scale"]) @ s["basis"].T + s["direction_mean"]
        gain = latent[:, -1:] * s["gain_db"][1] + s["gain_db"][0]
        return torch.cat([direction, gain], dim=1)

    def _standard_conditions(self, conditions: np.ndarray) -> torch.Tensor:
        c = torch.from_numpy(check_conditions(conditions, self.condition_dim))
        return (c - self.scales["condition_mean"]) * self.scales["condition_scale"]

    # ------------------------------------------------------------------------ training
    def fit(
        self,
        h: np.ndarray,
        conditions: np.ndarray,
        progress: Callable[[int, float], None] | None = None,
    ) -> list[float]:
        """Train on channels ``h [n, 1, num_bs_antennas, num_subcarriers]`` with their
        ``conditions [n, condition_dim]``; returns the mean loss of each tenth of training
        (diffusion: v-prediction MSE; GAN: the critic's Wasserstein estimate).
        ``progress(step, loss)`` is called every 100 steps."""
        raw = torch.from_numpy(check_conditions(conditions, self.condition_dim))
        if len(raw) != len(h):
            raise InvalidStateError(f"{len(h)} channels but {len(raw)} conditions")
        if len(raw) < 2:
            raise InvalidStateError("a generator needs at least 2 training channels")
        vectors = torch.from_numpy(self.shape.to_vectors(self._align(h, raw.numpy())))
        self._fit_scales(vectors, raw)
        x = self.to_latent(vectors)
        c = (raw - self.scales["condition_mean"]) * self.scales["condition_scale"]
        cfg = self.config
        start = time.perf_counter()
        generator = torch.Generator().manual_seed(
            int_seed_for(self.seed, "generator-train") % 2**31
        )
        history = _train(self.model, cfg, x, c, generator, progress)
        self.training = {"channels": len(x), "steps": cfg.steps, "latent_dim": self.latent_dim,
                         "seconds": time.perf_counter() - start, "loss": history}  # fmt: skip
        self.model.eval()
        return history

    # ---------------------------------------------------------------------- generation
    def generate_vectors(self, conditions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``[n, vector_dim]`` float32 (de-standardised) for ``conditions [n, condition_dim]``."""
        model = self._check_trained()
        c = self._standard_conditions(conditions)
        generator = torch.Generator().manual_seed(int(rng.integers(2**31)))
        parts = []
        for start in range(0, len(c), GENERATE_BATCH):
            parts.append(model.sample(c[start : start + GENERATE_BATCH], generator))
        return self.from_latent(torch.cat(parts)).numpy()

    def generate(self, conditions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Channels ``H [n, 1, num_bs_antennas, num_subcarriers]`` complex64 for
        ``conditions [n, condition_dim]``; ``rng`` draws the noise and the global phases."""
        h = self.shape.to_channels(self.generate_vectors(conditions, rng), rng)
        return self._align(h, conditions, inverse=True)

    def _align(self, h: np.ndarray, conditions: np.ndarray, inverse: bool = False) -> np.ndarray:
        if not self.config.align_to_user:
            return h
        u = los_spatial_frequency(np.asarray(conditions)[:, :3])
        return align_to_user(h, u, inverse)

    # --------------------------------------------------------------------- checkpoints
    def tensors(self) -> dict[str, torch.Tensor]:
        state = {f"model.{k}": v for k, v in self._check_trained().state_dict().items()}
        return state | {f"scales.{k}": v for k, v in self.scales.items()}

    def save(self, directory: str | Path) -> Path:
        """Write ``generator.json``, ``weights.safetensors`` and ``SHA256SUMS``."""
        from safetensors.torch import save_file

        from gainnet.core.integrity import check_writable, write_manifest

        root = check_writable(directory, "generator folder")
        description = {
            "format": FORMAT, "version": VERSION, "config": dataclasses.asdict(self.config),
            "shape": dataclasses.asdict(self.shape), "num_scenarios": self.num_scenarios,
            "seed": self.seed, "latent_dim": self.latent_dim, "training": self.training,
        }  # fmt: skip
        (root / CONFIG_FILE).write_text(json.dumps(description, indent=1) + "\n")
        tensors = {k: v.detach().contiguous().clone() for k, v in self.tensors().items()}
        save_file(tensors, str(root / WEIGHTS_FILE))
        write_manifest(root, [CONFIG_FILE, WEIGHTS_FILE])
        return root

    @classmethod
    def load(cls, directory: str | Path) -> ChannelGenerator:
        """A saved generator, after checking digests, settings and every tensor's header (a
        :class:`CheckpointError` names what is wrong otherwise)."""
        from safetensors.torch import load as load_tensors

        from gainnet.checkpoint import check_header_fits, safetensors_header, tensor_header
        from gainnet.core.integrity import verify_manifest
        from gainnet.errors import GainnetError

        root = Path(directory)
        if not root.is_dir():
            raise CheckpointError(f"{root} is not a generator folder")
        verify_manifest(root, [CONFIG_FILE, WEIGHTS_FILE], fix="train the generator again")
        where = root / CONFIG_FILE
        try:
            meta = json.loads(where.read_bytes()[:MAX_CONFIG_BYTES])
            if meta.get("format") != FORMAT or meta.get("version") != VERSION:
                raise CheckpointError(
                    f"{where} is not a gainnet channel generator (version {VERSION})"
                )
            generator = cls(GeneratorConfig(**meta["config"]), ChannelShape(**meta["shape"]),
                            meta["num_scenarios"], int(meta.get("seed", 0)))  # fmt: skip
            training = meta.get("training", {})
            latent_dim = meta["latent_dim"]
            if (
                isinstance(latent_dim, bool)
                or not isinstance(latent_dim, int)
                or not (1 <= latent_dim < generator.shape.vector_dim)
            ):
                raise CheckpointError(f"{where} has a bad latent_dim {latent_dim!r}")
            generator._build(latent_dim)
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError,
                ValueError, GainnetError) as exc:  # fmt: skip
            if isinstance(exc, CheckpointError):
                raise
            raise CheckpointError(f"{where} is corrupt: {exc}") from None
        data = (root / WEIGHTS_FILE).read_bytes()
        weights_where = str(root / WEIGHTS_FILE)
        expected = tensor_header(generator.tensors())
        check_header_fits(expected, safetensors_header(data, weights_where), weights_where,
                          f"a {generator.config.kind} generator")  # fmt: skip
        tensors = load_tensors(data)
        if not all(torch.isfinite(t).all() for t in tensors.values()):
            raise CheckpointError(f"{weights_where} holds NaN or infinite weights")
        model = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
        generator.model.load_state_dict(model)
        generator.scales = {k.removeprefix("scales."): v for k, v in tensors.items()
                            if k.startswith("scales.")}  # fmt: skip
        generator.training = training if isinstance(training, dict) else {}
        generator.model.eval()
        return generator


def _train(model, cfg: GeneratorConfig, x, c, generator, progress) -> list[float]:
    """Adam with cosine decay; the sampling network (denoiser or GAN generator) ends with the
    exponential moving average of its weights. The mean loss of each tenth of the steps."""
    if cfg.kind == "diffusion":
        optimisers = {"model": torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)}
    else:  # WGAN-GP's Adam settings (beta1 = 0, beta2 = 0.9)
        betas = (0.0, 0.9)
        optimisers = {
            "critic": torch.optim.Adam(model.critic.parameters(), cfg.learning_rate, betas=betas),
            "generator": torch.optim.Adam(
                model.generator.parameters(), cfg.learning_rate, betas=betas
            ),
        }
    schedules = [torch.optim.lr_scheduler.LambdaLR(
        o, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, cfg.steps) / cfg.steps)))
        for o in optimisers.values()]  # fmt: skip
    sampler = model if cfg.kind == "diffusion" else model.generator
    average = [q.detach().clone() for q in sampler.parameters()]
    model.train()
    n, batch = len(x), min(cfg.batch_size, len(x))
    losses, history = [], []
    for step in range(cfg.steps):
        if cfg.kind == "diffusion":
            rows = torch.randint(0, n, (batch,), generator=generator)
            loss = model.loss(x[rows], c[rows], generator)
            _descend(optimisers["model"], loss)
        else:
            for _ in range(cfg.critic_steps):
                rows = torch.randint(0, n, (batch,), generator=generator)
                loss = model.critic_loss(x[rows], c[rows], generator, cfg.gp_weight)
                _descend(optimisers["critic"], loss)
            rows = torch.randint(0, n, (batch,), generator=generator)
            _descend(optimisers["generator"], model.generator_loss(c[rows], generator))
            loss = -loss  # the critic's Wasserstein estimate (+ penalty), reported positive
        value = float(loss.detach())
        if not math.isfinite(value):
            raise InvalidStateError(f"training diverged at step {step} (loss {value})")
        losses.append(value)
        decay = min(cfg.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for kept, q in zip(average, sampler.parameters(), strict=True):
                kept.lerp_(q.detach(), 1 - decay)
        for schedule in schedules:
            schedule.step()
        if progress is not None and (step + 1) % 100 == 0:
            progress(step + 1, float(np.mean(losses[-100:])))
        if len(losses) >= max(1, cfg.steps // 10) or step == cfg.steps - 1:
            history.append(float(np.mean(losses)))
            losses = []
    with torch.no_grad():  # sample with the averaged weights
        for kept, q in zip(average, sampler.parameters(), strict=True):
            q.copy_(kept)
    return history


def _descend(optimiser: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()
