"""A conditional Wasserstein GAN with gradient penalty (WGAN-GP, Gulrajani et al. 2017).

The generator maps Gaussian noise ``z [B, noise_dim]`` and the condition to a channel vector
in one pass; the critic scores (vector, condition) pairs and is trained ``critic_steps`` times
per generator step with the penalty ``gp_weight (||grad critic(x^)|| - 1)^2`` at random points
between real and generated vectors (no layer norm in the critic: the penalty is per sample).
"""

from __future__ import annotations

import torch
from torch import nn

from gainnet.synthetic.networks import ResidualMLP


class GanChannelModel(nn.Module):
    """Generator and critic of ``x [B, vector_dim]`` given ``condition [B, condition_dim]``."""

    def __init__(
        self, vector_dim: int, condition_dim: int, hidden: int, blocks: int, noise_dim: int
    ) -> None:
        super().__init__()
        self.noise_dim = noise_dim
        self.generator = ResidualMLP(noise_dim + condition_dim, vector_dim, hidden, blocks)
        self.critic = ResidualMLP(vector_dim + condition_dim, 1, hidden, blocks, norm=False)

    def generate(self, condition: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        z = torch.randn((len(condition), self.noise_dim), generator=generator)
        return self.generator(torch.cat([z, condition], dim=1))

    def score(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.critic(torch.cat([x, condition], dim=1)).squeeze(-1)

    def critic_loss(
        self, real: torch.Tensor, condition: torch.Tensor, generator: torch.Generator,
        gp_weight: float,
    ) -> torch.Tensor:  # fmt: skip
        """``E critic(fake) - E critic(real) + gp_weight * penalty``."""
        with torch.no_grad():
            fake = self.generate(condition, generator)
        mix = torch.rand((len(real), 1), generator=generator)
        between = (mix * real + (1 - mix) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(self.score(between, condition).sum(), between,
                                      create_graph=True)  # fmt: skip
        penalty = ((grad.norm(dim=1) - 1) ** 2).mean()
        return (
            self.score(fake, condition).mean()
            - self.score(real, condition).mean()
            + (gp_weight * penalty)
        )

    def generator_loss(self, condition: torch.Tensor, generator: torch.Generator):
        return -self.score(self.generate(condition, generator), condition).mean()

    @torch.no_grad()
    def sample(self, condition: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.generate(condition, generator)
