"""The residual MLP every generator is built from (denoiser, GAN generator and critic)."""

from __future__ import annotations

import torch
from torch import nn


class ResidualBlock(nn.Module):
    """``h + W2 silu(W1 norm(h))`` (a pre-norm residual block; ``norm`` off for a critic)."""

    def __init__(self, hidden: int, norm: bool = True) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden) if norm else nn.Identity()
        self.inner = nn.Sequential(
            nn.Linear(hidden, 2 * hidden), nn.SiLU(), nn.Linear(2 * hidden, hidden)
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.inner(self.norm(h))


class ResidualMLP(nn.Module):
    """``[B, in_dim] -> [B, out_dim]``: a linear embedding, ``blocks`` residual blocks of width
    ``hidden``, and a linear read-out (``norm=False`` drops the layer norms, as a WGAN-GP critic
    must: its gradient penalty is per sample)."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int, blocks: int, norm: bool = True):
        super().__init__()
        self.embed = nn.Linear(in_dim, hidden)
        self.blocks = nn.Sequential(*(ResidualBlock(hidden, norm) for _ in range(blocks)))
        self.out_norm = nn.LayerNorm(hidden) if norm else nn.Identity()
        self.out = nn.Linear(hidden, out_dim)

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """``extra`` [B, hidden], if given, is added to the embedding (a timestep's features)."""
        h = self.embed(x)
        if extra is not None:
            h = h + extra
        return self.out(torch.nn.functional.silu(self.out_norm(self.blocks(h))))
