"""The trained DDIM chain exported to NumPy for low-latency inference.

At batch size 1 a torch operator costs a few microseconds of dispatch each, which dominates a
three-step chain of a small MLP; NumPy on the same float32 weights is ~3x faster there and as
fast in batches. The maths is exactly :meth:`DiffusionPolicy.sample` (a test checks they agree).

BLAS kernels pick their blocking by matrix shape, so the same row can come out a few ulps
different in batches of different sizes (seen with OpenBLAS 0.3.31). Batches are therefore
padded to a multiple of :data:`ROW_BLOCK` rows: a row's result then never depends on the batch
it came in.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.special import expit

#: batches are padded to a multiple of this many rows (see the module doc)
ROW_BLOCK = 32


def _silu(x: np.ndarray) -> np.ndarray:
    return x * expit(x)


@dataclasses.dataclass(frozen=True)
class NumpySampler:
    """Float32 copies of a :class:`~gainnet.diffusion.policy.DiffusionPolicy`'s inference path.

    Attributes
    ----------
    obs_mean, obs_scale : ndarray, [observation_dim]
        Observation standardisation.
    condition_w : ndarray, [observation_dim, hidden]; condition_b : ndarray, [hidden]
    action_w : ndarray, [action_dim, hidden]
    time_h : tuple of ndarray, each [1, hidden]
        The timestep part of the first layer at each sampling step.
    body : tuple of (weight [in, out], bias [out])
        The hidden and output layers, each preceded by SiLU.
    c_x0, c_xt : tuple of float
        DDIM coefficients per step.
    """

    obs_mean: np.ndarray
    obs_scale: np.ndarray
    condition_w: np.ndarray
    condition_b: np.ndarray
    action_w: np.ndarray
    time_h: tuple[np.ndarray, ...]
    body: tuple[tuple[np.ndarray, np.ndarray], ...]
    c_x0: tuple[float, ...]
    c_xt: tuple[float, ...]

    def sample(self, observation: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """Actions ``[n, action_dim]`` from observations ``[n, observation_dim]`` and noise."""
        n = observation.shape[0]
        padded = -(-n // ROW_BLOCK) * ROW_BLOCK
        if padded != n:
            observation = _pad_rows(observation, padded)
            noise = _pad_rows(noise, padded)
        condition_h = ((observation - self.obs_mean) * self.obs_scale) @ self.condition_w
        condition_h += self.condition_b
        x = noise
        for time_h, c_x0, c_xt in zip(self.time_h, self.c_x0, self.c_xt, strict=True):
            h = x @ self.action_w
            h += condition_h
            h += time_h
            for weight, bias in self.body:
                h = _silu(h) @ weight
                h += bias
            x = c_x0 * h + c_xt * x
        return x[:n]


def _pad_rows(array: np.ndarray, rows: int) -> np.ndarray:
    out = np.zeros((rows, *array.shape[1:]), dtype=np.float32)
    out[: array.shape[0]] = array
    return out
