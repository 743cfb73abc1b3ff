"""PCA with a fixed-length code: the linear twin of the fixed-length learned codecs.

The encoder projects the flattened unit-norm CSI ``x [D]`` complex onto the ``M / 2`` strongest
eigenvectors of the training covariance (``M`` real values: the real and imaginary parts) and
sends each value as one of ``2^b`` cells of equal probability under its Gaussian model
``N(0, sigma_i^2)`` (:func:`gainnet.csi.latent_codes.gaussian_cells`), decoded to the cell's
conditional mean: ``M b`` bits per report, exactly as ``csinet`` and ``vae`` spend them. Beside
:class:`~gainnet.csi.transform_coding.TransformCoder` (every coefficient, one step, an entropy
code) it shows what a variable-length code buys.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from gainnet.csi.latent_codes import gaussian_cells
from gainnet.csi.transform_coding import flat_reports
from gainnet.errors import InvalidStateError


@dataclasses.dataclass
class PcaCoder:
    """``basis [D, M / 2]`` (the strongest eigenvectors), ``sigma [M / 2]`` (the spread of each
    coefficient's real and imaginary part), ``bits_per_value`` ``b``."""

    basis: np.ndarray
    sigma: np.ndarray
    bits_per_value: int

    @classmethod
    def fit(cls, x_train: np.ndarray, values: int, bits_per_value: int) -> PcaCoder:
        """Fit on ``x_train [n, ...]``: ``values`` real values (even) of ``bits_per_value``."""
        x = flat_reports(x_train)
        if values < 2 or values % 2 or values > 2 * x.shape[1]:
            raise InvalidStateError(f"values must be even, in 2..{2 * x.shape[1]}, got {values}")
        if not 1 <= bits_per_value <= 16:
            raise InvalidStateError(f"bits_per_value must be in 1..16, got {bits_per_value}")
        eigenvalues, vectors = np.linalg.eigh(x.T @ np.conj(x) / len(x))
        keep = np.argsort(eigenvalues)[::-1][: values // 2]
        sigma = np.sqrt(np.clip(eigenvalues[keep], 1e-30, None) / 2)
        return cls(vectors[:, keep], sigma, bits_per_value)

    @property
    def bits(self) -> int:
        return 2 * len(self.sigma) * self.bits_per_value

    def encode(self, x: np.ndarray) -> np.ndarray:
        """``[n, M / 2, 2]`` int64 cell indices of CSI ``x [n, ...]``."""
        flat = flat_reports(x)
        if flat.shape[1] != len(self.basis):
            raise InvalidStateError(f"expected {len(self.basis)} values per report")
        c = flat @ np.conj(self.basis) / self.sigma
        edges, _ = gaussian_cells(2**self.bits_per_value)
        parts = np.stack([c.real, c.imag], axis=-1)
        return np.searchsorted(edges[1:-1], parts).astype(np.int64)

    def decode(self, index: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """The reconstruction ``[n, *shape]`` complex64 of ``index [n, M / 2, 2]``."""
        _, centroids = gaussian_cells(2**self.bits_per_value)
        value = centroids[index] * self.sigma[None, :, None]
        x_hat = (value[..., 0] + 1j * value[..., 1]) @ self.basis.T
        return x_hat.reshape(len(index), *shape).astype(np.complex64)
