"""A conditional diffusion model of channel vectors, sampled by few-step DDIM.

The network predicts ``v = sqrt(abar_t) noise - sqrt(1 - abar_t) x0`` (v-prediction: well posed
at both ends of the schedule, where predicting the noise or the sample alone is not) from the
noisy vector, the condition and the timestep; the clean estimate is
``x0_hat = sqrt(abar_t) x_t - sqrt(1 - abar_t) v_hat`` and sampling is deterministic DDIM
(:class:`gainnet.diffusion.schedules.DDIMCoefficients`, diffusers' cosine schedule and trailing
timesteps) from Gaussian noise in ``num_inference_steps`` steps: the knob that trades quality
for generation speed.
"""

from __future__ import annotations

import torch
from torch import nn

from gainnet.diffusion.denoisers import sinusoidal_features
from gainnet.diffusion.schedules import DDIMCoefficients, make_ddim_scheduler
from gainnet.synthetic.networks import ResidualMLP

#: sinusoidal features of a timestep, before its MLP
TIME_FEATURES = 64


class DiffusionChannelModel(nn.Module):
    """``x [B, vector_dim]`` given ``condition [B, condition_dim]`` (both standardised)."""

    def __init__(
        self,
        vector_dim: int,
        condition_dim: int,
        hidden: int,
        blocks: int,
        num_train_timesteps: int,
        num_inference_steps: int,
    ) -> None:
        super().__init__()
        self.vector_dim, self.num_train_timesteps = vector_dim, num_train_timesteps
        self.net = ResidualMLP(vector_dim + condition_dim, vector_dim, hidden, blocks)
        self.time = nn.Sequential(
            nn.Linear(TIME_FEATURES, hidden), nn.SiLU(), nn.Linear(hidden, hidden)
        )
        self.coefficients = DDIMCoefficients.from_scheduler(
            make_ddim_scheduler(num_train_timesteps), num_inference_steps
        )

    def _abar(self, t: torch.Tensor) -> torch.Tensor:
        return self.coefficients.alphas_cumprod[t].unsqueeze(-1)

    def predict_v(self, x_t: torch.Tensor, t: torch.Tensor, condition: torch.Tensor):
        """``v_hat [B, vector_dim]``; ``t`` [B] integer timesteps, or [1] for the whole batch
        (sampling: the timestep's features are computed once)."""
        time_h = self.time(sinusoidal_features(t, self.num_train_timesteps, TIME_FEATURES))
        return self.net(torch.cat([x_t, condition], dim=1), time_h)

    def loss(self, x0: torch.Tensor, condition: torch.Tensor, generator: torch.Generator):
        """Mean squared error of ``v`` at uniformly drawn timesteps."""
        t = torch.randint(0, self.num_train_timesteps, (len(x0),), generator=generator)
        noise = torch.randn(x0.shape, generator=generator)
        abar = self._abar(t)
        x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * noise
        v = abar.sqrt() * noise - (1 - abar).sqrt() * x0
        return torch.mean((self.predict_v(x_t, t, condition) - v) ** 2)

    @torch.no_grad()
    def sample(self, condition: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``[B, vector_dim]`` from Gaussian noise in ``num_inference_steps`` DDIM steps."""
        x = torch.randn((len(condition), self.vector_dim), generator=generator)
        c = self.coefficients
        for t, c_x0, c_xt in zip(c.timesteps, c.c_x0, c.c_xt, strict=True):
            step = torch.tensor([t])
            abar = self._abar(step)
            x0_hat = abar.sqrt() * x - (1 - abar).sqrt() * self.predict_v(x, step, condition)
            x = c_x0 * x0_hat + c_xt * x
        return x
