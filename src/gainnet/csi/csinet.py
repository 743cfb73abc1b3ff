"""A CsiNet-style convolutional autoencoder with a quantised codeword (Wen et al., 2018).

The user equipment's encoder maps the unit-norm truncated angular-delay CSI ``x [taps,
antennas]`` complex (as ``[2, taps, antennas]`` real) through a 3x3 convolution and a dense
layer to ``M`` values in (-1, 1) (tanh), each sent as one of ``2^b`` uniform levels: a report
is ``M b`` bits, fixed. The base station's decoder maps the levels back through a dense layer
and two RefineNet blocks (residual 3x3 convolutions, 2 -> 8 -> 16 -> 2 channels; the sum is
left linear, since this CSI is signed) to ``x^``.
Training backpropagates through the rounding by the straight-through estimator; the loss is
the squared error of unit-norm CSI, i.e. the mean per-sample NMSE.

CsiNet's own output is a sigmoid over data min-max scaled to [0, 1]; gainnet's data are unit-norm
complex, so the output is linear. The compression ratio of the paper is ``M / (2 taps
antennas)``; gainnet reports bits.
"""

from __future__ import annotations

import torch
from torch import nn


class _Refine(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(2, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.LeakyReLU(0.3),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.LeakyReLU(0.3),
            nn.Conv2d(16, 2, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)  # a linear residual: this CSI is signed, CsiNet's in [0, 1]


def quantise(latent: torch.Tensor, bits: int) -> torch.Tensor:
    """``latent`` in (-1, 1) rounded to the nearest of ``2^bits`` uniform levels (centres of
    equal cells), with a straight-through gradient."""
    levels = 2**bits
    index = torch.clamp(torch.floor((latent + 1) / 2 * levels), 0, levels - 1)
    value = (index + 0.5) / levels * 2 - 1
    return latent + (value - latent).detach()


class CsiNetEncoder(nn.Module):
    """``[n, 2, taps, antennas]`` -> ``[n, M]`` in (-1, 1) (before quantisation)."""

    def __init__(self, taps: int, antennas: int, latent: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(2, 2, 3, padding=1), nn.BatchNorm2d(2), nn.LeakyReLU(0.3)
        )
        self.dense = nn.Linear(2 * taps * antennas, latent)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(self.conv(x).flatten(1)))


class CsiNetDecoder(nn.Module):
    """``[n, M]`` quantised codeword -> ``[n, 2, taps, antennas]``."""

    def __init__(self, taps: int, antennas: int, latent: int) -> None:
        super().__init__()
        self.shape = (2, taps, antennas)
        self.dense = nn.Linear(latent, 2 * taps * antennas)
        self.refine = nn.Sequential(_Refine(), _Refine())
        self.out = nn.Conv2d(2, 2, 3, padding=1)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        x = self.dense(code).reshape(len(code), *self.shape)
        return x + self.out(self.refine(x))
