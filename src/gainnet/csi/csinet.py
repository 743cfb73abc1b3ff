"""The networks of a CsiNet-style convolutional autoencoder (Wen et al., 2018), shared by every
learned codec (what happens to the latent between them: :mod:`gainnet.csi.latent_codes`).

The user equipment's encoder maps the unit-norm truncated angular-delay CSI ``x [taps,
antennas]`` complex (as ``[2, taps, antennas]`` real) through a residual 3x3 convolution and a
dense layer to the latent (CsiNet: ``M`` values squashed by tanh, each sent as one of ``2^b``
uniform levels, ``M b`` bits per report). The base station's decoder maps it back through a
dense layer and two RefineNet blocks (residual 3x3 convolutions, 2 -> 8 -> 16 -> 2 channels;
the sum is left linear, since this CSI is signed) to ``x^``.
The loss is the squared error of unit-norm CSI, i.e. the mean per-sample NMSE. Both residual
branches start at zero, so that at initialisation the codec is its two dense layers, which
:meth:`gainnet.csi.learned.LearnedCodec.fit` sets to a PCA of the training data (a start at the
linear baseline; CsiNet itself starts from random weights).

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


class CsiNetEncoder(nn.Module):
    """``[n, 2, taps, antennas]`` -> ``[n, outputs]``, the raw latent (before the codec's
    squashing or quantisation, :mod:`gainnet.csi.latent_codes`)."""

    def __init__(self, taps: int, antennas: int, outputs: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(2, 2, 3, padding=1), nn.BatchNorm2d(2), nn.LeakyReLU(0.3)
        )
        nn.init.zeros_(self.conv[1].weight)  # the residual starts at 0: the dense layer alone
        self.dense = nn.Linear(2 * taps * antennas, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense((x + self.conv(x)).flatten(1))


class CsiNetDecoder(nn.Module):
    """``[n, M]`` decoded latent values -> ``[n, 2, taps, antennas]``."""

    def __init__(self, taps: int, antennas: int, latent: int) -> None:
        super().__init__()
        self.shape = (2, taps, antennas)
        self.dense = nn.Linear(latent, 2 * taps * antennas)
        self.refine = nn.Sequential(_Refine(), _Refine())
        self.out = nn.Conv2d(2, 2, 3, padding=1)
        nn.init.zeros_(self.out.weight)  # the refinement starts at 0: the dense layer alone
        nn.init.zeros_(self.out.bias)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        x = self.dense(code).reshape(len(code), *self.shape)
        return x + self.out(self.refine(x))
