"""Conditional denoisers: ``x0_hat = f(x_t, t, condition)``."""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal_features(t: torch.Tensor, num_train_timesteps: int, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps ``t`` [B] -> [B, dim]."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=torch.float32) / max(half, 1))
    angle = (t.to(torch.float32) / num_train_timesteps * 1000.0).unsqueeze(-1) * freqs
    return torch.cat([angle.sin(), angle.cos()], dim=-1)


class MLPDenoiser(nn.Module):
    """An MLP predicting the clean action from a noisy one, its timestep and a condition.

    The first layer is split into an action part, a condition part and a timestep part, so
    the condition part (``embed_condition``) is computed once per decision and the timestep
    part once per sampling step, not once per step and instance.

    Shapes: ``x_t`` [B, action_dim], ``condition`` [B, condition_dim] (already normalised),
    ``t`` [B] integer training timesteps. Output [B, action_dim].
    """

    def __init__(
        self,
        action_dim: int,
        condition_dim: int,
        num_train_timesteps: int,
        hidden: int = 128,
        layers: int = 3,
        time_dim: int = 16,
    ) -> None:
        super().__init__()
        self.num_train_timesteps, self.time_dim = num_train_timesteps, time_dim
        self.action_in = nn.Linear(action_dim, hidden, bias=False)
        self.condition_in = nn.Linear(condition_dim, hidden)
        self.time_in = nn.Linear(time_dim, hidden, bias=False)
        body: list[nn.Module] = []
        for _ in range(layers - 1):
            body += [nn.SiLU(), nn.Linear(hidden, hidden)]
        body += [nn.SiLU(), nn.Linear(hidden, action_dim)]
        self.body = nn.Sequential(*body)

    def embed_condition(self, condition: torch.Tensor) -> torch.Tensor:
        return self.condition_in(condition)

    def embed_time(self, t: torch.Tensor) -> torch.Tensor:
        return self.time_in(sinusoidal_features(t, self.num_train_timesteps, self.time_dim))

    def forward_embedded(
        self, x_t: torch.Tensor, condition_h: torch.Tensor, time_h: torch.Tensor
    ) -> torch.Tensor:
        return self.body(self.action_in(x_t) + condition_h + time_h)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.forward_embedded(x_t, self.embed_condition(condition), self.embed_time(t))
