"""A conditional diffusion policy: observation normaliser + denoiser + few-step DDIM sampler."""

from __future__ import annotations

import torch
from torch import nn

from gainnet.diffusion.denoisers import MLPDenoiser
from gainnet.diffusion.numpy_sampler import NumpySampler
from gainnet.diffusion.schedules import DDIMCoefficients, make_ddim_scheduler


class DiffusionPolicy(nn.Module):
    """Generates actions ``[B, action_dim]`` from observations ``[B, observation_dim]``.

    Sampling starts from Gaussian noise and takes ``num_inference_steps`` deterministic DDIM
    steps; the whole chain is differentiable (no in-place clamps), so a reward can be
    back-propagated through it.
    """

    def __init__(
        self,
        observation_dim: int,
        action_dim: int,
        hidden: int,
        layers: int,
        num_train_timesteps: int,
        num_inference_steps: int,
    ) -> None:
        super().__init__()
        self.action_dim = action_dim
        self.register_buffer("obs_mean", torch.zeros(observation_dim))
        self.register_buffer("obs_scale", torch.ones(observation_dim))
        self.denoiser = MLPDenoiser(
            action_dim, observation_dim, num_train_timesteps, hidden, layers
        )
        self.coefficients = DDIMCoefficients.from_scheduler(
            make_ddim_scheduler(num_train_timesteps), num_inference_steps
        )

    def set_normaliser(self, observations: torch.Tensor) -> None:
        """Standardise observations with the mean and std of a training sample ``[N, d]``."""
        self.obs_mean.copy_(observations.mean(dim=0))
        self.obs_scale.copy_(1.0 / observations.std(dim=0).clamp_min(1e-6))

    def normalise(self, observation: torch.Tensor) -> torch.Tensor:
        return (observation - self.obs_mean) * self.obs_scale

    # ----------------------------------------------------------------- training
    def imitation_loss(
        self, observation: torch.Tensor, target: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        """Mean squared error of the clean-action prediction at a random timestep."""
        batch = target.shape[0]
        t = torch.randint(0, len(self.coefficients.alphas_cumprod), (batch,), generator=generator)
        noise = torch.randn(target.shape, generator=generator)
        x_t = self.coefficients.add_noise(target, noise, t)
        prediction = self.denoiser(x_t, t, self.normalise(observation))
        return torch.mean((prediction - target) ** 2)

    # ----------------------------------------------------------------- sampling
    @torch.no_grad()
    def export_numpy(self) -> NumpySampler:
        """Float32 NumPy copies of the inference path (see :mod:`.numpy_sampler`)."""
        d = self.denoiser
        linears = [m for m in d.body if isinstance(m, nn.Linear)]
        time_h = [d.embed_time(torch.tensor([t])) for t in self.coefficients.timesteps]
        return NumpySampler(
            obs_mean=self.obs_mean.numpy().copy(),
            obs_scale=self.obs_scale.numpy().copy(),
            condition_w=d.condition_in.weight.numpy().T.copy(),
            condition_b=d.condition_in.bias.numpy().copy(),
            action_w=d.action_in.weight.numpy().T.copy(),
            time_h=tuple(h.numpy().copy() for h in time_h),
            body=tuple((m.weight.numpy().T.copy(), m.bias.numpy().copy()) for m in linears),
            c_x0=self.coefficients.c_x0,
            c_xt=self.coefficients.c_xt,
        )

    def sample(self, observation: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Run the DDIM chain from ``noise`` [B, action_dim]; differentiable when grad is on."""
        condition_h = self.denoiser.embed_condition(self.normalise(observation))
        x = noise
        c = self.coefficients
        for t, c_x0, c_xt in zip(c.timesteps, c.c_x0, c.c_xt, strict=True):
            time_h = self.denoiser.embed_time(torch.tensor([t]))
            x0_hat = self.denoiser.forward_embedded(x, condition_h, time_h)
            x = c_x0 * x0_hat + c_xt * x
        return x
