"""How each learned codec turns its latent into symbols and bits (the part after the encoder).

- ``csinet`` (:class:`UniformCode`): ``M`` values in (-1, 1) (tanh), each one of ``2^b`` uniform
  levels; ``M b`` bits per report, fixed. Trained through the rounding by straight-through.
- ``vae`` (:class:`GaussianCellCode`): a variational autoencoder's posterior mean ``mu [M]``,
  each value sent as one of ``2^b`` cells of equal probability under the prior N(0, 1) (the
  fixed-length code of most entropy for that prior), decoded to the cell's conditional mean;
  ``M b`` bits, fixed. Trained on a sample of the posterior ``N(mu, sigma^2)`` with the
  Kullback-Leibler divergence to the prior as the rate (in bits).
- ``entropy`` (:class:`FactorisedLogisticCode`): the factorised-prior codec of Balle et al.
  (ICLR 2018) with a logistic density per latent channel (learned location and scale): the
  latent is rounded to integers, and the report costs
  ``-log2 P(y^)`` bits under the density convolved with the unit box: the length an arithmetic
  coder emits, within a few bits. The rate varies per report; training holds its mean at the
  target (the rate on the noisy latent, the decoder on the rounded one, straight-through).

In training ``train_code`` returns ``(latent, rate_bits, spent)``: the decoder's input, the
rate term of the loss per report ``[n]`` (``None`` for the fixed-length ``csinet``) and the mean
bits the batch's reports would cost (what the rate controller steers to the target).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.special import ndtri
from scipy.stats import norm
from torch import nn

from gainnet.errors import InvalidStateError

#: the largest integer symbol an ``entropy`` report may hold
MAX_SYMBOL = 4096
#: probabilities are floored so that an outlier symbol costs a finite number of bits
MIN_PROBABILITY = 1e-9
#: ``csinet``'s PCA start: a coefficient of this many standard deviations reaches tanh = 0.76
TANH_SPREAD = 2.0


def gaussian_cells(levels: int) -> tuple[np.ndarray, np.ndarray]:
    """``(edges [levels + 1], centroids [levels])``: ``levels`` cells of equal probability under
    N(0, 1) (the outer edges are -inf and inf) and the conditional mean of each."""
    edges = ndtri(np.linspace(0.0, 1.0, levels + 1))
    mass = np.diff(norm.cdf(edges))
    return edges, (norm.pdf(edges[:-1]) - norm.pdf(edges[1:])) / mass


class UniformCode(nn.Module):
    """``csinet``: ``2^b`` uniform levels over (-1, 1)."""

    fixed_length = True

    def __init__(self, latent: int, bits: int) -> None:
        super().__init__()
        self.latent, self.levels = latent, 2**bits

    def encoder_outputs(self) -> int:
        return self.latent

    def pca_start(self, basis: torch.Tensor, sigma: torch.Tensor, bits: float):
        """``(encoder weight [outputs, D], decoder weight [D, latent])`` that make the codec
        the PCA ``basis [D, k]`` (columns, ``k <= latent``) of spreads ``sigma [k]``: here each
        coefficient scaled to 1/2 of a standard deviation per unit (tanh's near-linear part)."""
        return _linear_start(basis, sigma * TANH_SPREAD, self.latent, self.encoder_outputs())

    def train_code(self, raw: torch.Tensor, generator: torch.Generator):
        latent = torch.tanh(raw)
        index = torch.clamp(torch.floor((latent + 1) / 2 * self.levels), 0, self.levels - 1)
        value = (index + 0.5) / self.levels * 2 - 1
        return latent + (value - latent).detach(), None, float(self.latent * np.log2(self.levels))

    def symbols(self, raw: torch.Tensor) -> torch.Tensor:
        latent = torch.tanh(raw)
        return torch.clamp(torch.floor((latent + 1) / 2 * self.levels), 0, self.levels - 1).long()

    def check(self, symbols: np.ndarray) -> None:
        _check_range(symbols, 0, self.levels - 1)

    def values(self, symbols: torch.Tensor) -> torch.Tensor:
        return (symbols.float() + 0.5) / self.levels * 2 - 1

    def bits(self, symbols: torch.Tensor) -> torch.Tensor:
        return torch.full((len(symbols),), float(self.latent * math.log2(self.levels)))


class GaussianCellCode(UniformCode):
    """``vae``: cells of equal probability under N(0, 1), decoded to their conditional means."""

    def __init__(self, latent: int, bits: int) -> None:
        super().__init__(latent, bits)
        _, centroids = gaussian_cells(self.levels)
        self.register_buffer("centroids", torch.tensor(centroids, dtype=torch.float32))

    def encoder_outputs(self) -> int:
        return 2 * self.latent  # mean and log-variance

    def pca_start(self, basis: torch.Tensor, sigma: torch.Tensor, bits: float):
        """The means are the whitened PCA coefficients (the prior's N(0, 1)); the log-variance
        rows start at 0 weight (their bias, a posterior of a quarter of a cell, is set by
        :meth:`log_variance_start`)."""
        return _linear_start(basis, sigma, self.latent, self.encoder_outputs())

    def log_variance_start(self) -> float:
        return float(2 * np.log(0.25 * np.sqrt(2 * np.pi) / self.levels))

    def train_code(self, raw: torch.Tensor, generator: torch.Generator):
        mean, log_variance = raw.chunk(2, dim=1)
        log_variance = torch.clamp(log_variance, -12.0, 4.0)
        noise = torch.randn(mean.shape, generator=generator)
        z = mean + torch.exp(0.5 * log_variance) * noise
        kl_nats = 0.5 * (mean**2 + torch.exp(log_variance) - 1 - log_variance).sum(dim=1)
        rate = kl_nats / math.log(2)
        return z, rate, rate.mean().item()

    def symbols(self, raw: torch.Tensor) -> torch.Tensor:
        mean = raw[:, : self.latent].double()
        cdf = 0.5 * torch.erfc(-mean / math.sqrt(2))
        return torch.clamp(torch.floor(cdf * self.levels), 0, self.levels - 1).long()

    def values(self, symbols: torch.Tensor) -> torch.Tensor:
        return self.centroids[symbols]


class FactorisedLogisticCode(nn.Module):
    """``entropy``: integer symbols under a learned logistic density per latent channel."""

    fixed_length = False

    def __init__(self, latent: int, bits: int) -> None:
        super().__init__()
        self.latent = latent
        self.location = nn.Parameter(torch.zeros(latent))
        self.log_scale = nn.Parameter(torch.zeros(latent))

    def encoder_outputs(self) -> int:
        return self.latent

    def pca_start(self, basis: torch.Tensor, sigma: torch.Tensor, bits: float):
        """The latent is the PCA coefficients over one quantiser step, the step of reverse
        water-filling at ``bits`` (``step^2 / 12`` the water level), so that rounding starts as
        transform coding of the ``k`` strongest components; each density starts at its
        coefficient's spread."""
        from gainnet.csi.rate_distortion import reverse_water_filling

        variance = (sigma.double() ** 2).numpy()
        theta, _ = reverse_water_filling(variance, 2 * bits)  # real values: 1/2 log2 each
        step = float(np.sqrt(12 * theta))
        with torch.no_grad():
            spread = torch.clamp(sigma / step, min=1e-3) * math.sqrt(3) / math.pi
            self.log_scale[: len(sigma)] = torch.log(spread).float()
        return _linear_start(basis, sigma.new_full(sigma.shape, step), self.latent, self.latent)

    def train_code(self, raw: torch.Tensor, generator: torch.Generator):
        """The decoder sees the rounded latent (straight-through), the rate the noisy one
        (Minnen and Singh, 2020: with noise for both, the decoder learns from values that
        rounding later erases)."""
        noisy = raw + torch.rand(raw.shape, generator=generator) - 0.5
        rounded = torch.round(raw - self.location) + self.location
        with torch.no_grad():
            spent = self._bits(rounded).mean().item()  # what the reports will cost
        return raw + (rounded - raw).detach(), self._bits(noisy), spent

    def symbols(self, raw: torch.Tensor) -> torch.Tensor:
        offset = torch.round(raw - self.location)
        return torch.clamp(offset, -MAX_SYMBOL, MAX_SYMBOL).long()

    def check(self, symbols: np.ndarray) -> None:
        _check_range(symbols, -MAX_SYMBOL, MAX_SYMBOL)

    def values(self, symbols: torch.Tensor) -> torch.Tensor:
        return symbols.float() + self.location

    def bits(self, symbols: torch.Tensor) -> torch.Tensor:
        return self._bits(self.values(symbols))

    def _bits(self, y: torch.Tensor) -> torch.Tensor:
        """``[n]``: ``-log2 P`` of ``y [n, M]`` under the logistic convolved with the unit box
        (evaluated on the side of the median where the sigmoids do not saturate)."""
        scale = torch.exp(self.log_scale)
        centred = y - self.location
        sign = torch.where(centred > 0, -1.0, 1.0)  # not sign(): 0 would zero both
        upper = torch.sigmoid(sign * (centred + 0.5) / scale)
        lower = torch.sigmoid(sign * (centred - 0.5) / scale)
        probability = torch.clamp(torch.abs(upper - lower), min=MIN_PROBABILITY)
        return -torch.log2(probability).sum(dim=1)


def _linear_start(basis: torch.Tensor, unit: torch.Tensor, latent: int, outputs: int):
    """Encoder rows ``basis^T / unit`` and decoder columns ``basis * unit`` (zero beyond ``k``)."""
    k = basis.shape[1]
    encoder = torch.zeros(outputs, basis.shape[0])
    decoder = torch.zeros(basis.shape[0], latent)
    encoder[:k] = (basis / unit).T.float()
    decoder[:, :k] = (basis * unit).float()
    return encoder, decoder


CODES = {"csinet": UniformCode, "vae": GaussianCellCode, "entropy": FactorisedLogisticCode}


def _check_range(symbols: np.ndarray, low: int, high: int) -> None:
    if not np.issubdtype(symbols.dtype, np.integer) or symbols.min() < low or symbols.max() > high:
        raise InvalidStateError(f"symbols must be integers in {low}..{high}")
