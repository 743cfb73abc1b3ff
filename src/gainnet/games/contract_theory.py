"""Contract design under adverse selection (seed 003's AIGC contract), as batched functions.

A provider offers ``K`` items ``(q_k, r_k)`` (quality, payment) to users of types
``theta_1 < ... < theta_K`` with prior ``pi``; type ``k`` gets ``theta_k v(q) - r`` with
``v(q) = ln(1 + q)``; the provider earns ``sum_k pi_k (r_k - c q_k)``. Individual rationality
(IR): every type's utility from its item is >= 0; incentive compatibility (IC): no type prefers
another type's item.

The standard reduction: at the optimum the lowest type's IR and the downward adjacent ICs bind,
so for monotone qualities ``r_1 = theta_1 v(q_1)`` and ``r_k = r_{k-1} + theta_k (v(q_k) -
v(q_{k-1}))`` (:func:`binding_payments`), which makes every IR and IC hold. The provider's
utility becomes ``sum_k pi_k [x_k v(q_k) - c q_k]`` with virtual types
``x_k = theta_k - (theta_{k+1} - theta_k) * P(type > k) / pi_k``; maximised over monotone
``q`` by isotonic regression of ``x`` (weights ``pi``) and ``q_k = max(0, x_k / c - 1)``
(:func:`optimal_qualities`). Shapes: ``[n, K]`` per type, ``[n]`` per instance.
"""

from __future__ import annotations

import numpy as np


def valuation(quality: np.ndarray) -> np.ndarray:
    """``v(q) = ln(1 + q)``."""
    return np.log1p(quality)


def binding_payments(theta: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """Payments ``[n, K]`` that bind IR of type 1 and each downward adjacent IC."""
    v = valuation(quality)
    steps = theta * np.diff(v, axis=-1, prepend=0.0)
    return np.cumsum(steps, axis=-1)


def virtual_types(theta: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """``x_k = theta_k - (theta_{k+1} - theta_k) * P(type > k) / pi_k``, ``[n, K]``."""
    above = np.cumsum(prior[..., ::-1], axis=-1)[..., ::-1] - prior  # P(type > k)
    gap = np.diff(theta, axis=-1, append=theta[..., -1:])  # theta_{k+1} - theta_k, 0 for K
    return theta - gap * above / prior


def isotonic(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted non-decreasing least-squares fit of each row (pool adjacent violators)."""
    out = np.empty_like(values, dtype=float)
    for row in range(values.shape[0]):
        means, sizes, counts = [], [], []
        for value, weight in zip(values[row], weights[row], strict=True):
            means.append(float(value))
            sizes.append(float(weight))
            counts.append(1)
            while len(means) > 1 and means[-2] > means[-1]:
                total = sizes[-2] + sizes[-1]
                merged = (means[-2] * sizes[-2] + means[-1] * sizes[-1]) / total
                count = counts[-2] + counts[-1]
                del means[-1], sizes[-1], counts[-1]
                means[-1], sizes[-1], counts[-1] = merged, total, count
        out[row] = np.repeat(means, counts)
    return out


def optimal_qualities(theta: np.ndarray, prior: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """The provider-optimal monotone qualities ``[n, K]`` (see the module doc)."""
    ironed = isotonic(virtual_types(theta, prior), prior)
    return np.maximum(ironed / np.asarray(cost)[:, None] - 1.0, 0.0)


def provider_utility(prior, cost, quality, payment) -> np.ndarray:
    """``sum_k pi_k (r_k - c q_k)``, ``[n]``."""
    return (prior * (payment - np.asarray(cost)[:, None] * quality)).sum(axis=-1)


def violations(theta, quality, payment, tol: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """Worst IR and IC violations per instance, ``[n]`` each (0 when satisfied).

    IC compares every type ``k`` with every item ``j``: ``U_k(j) - U_k(k)``.
    """
    v = valuation(quality)
    own = theta * v - payment  # [n, K]
    ir = np.maximum(-own, 0.0).max(axis=-1)
    cross = theta[:, :, None] * v[:, None, :] - payment[:, None, :]  # type k takes item j
    ic = np.maximum(cross - own[:, :, None], 0.0).max(axis=(-1, -2))
    scale = 1.0 + np.abs(payment).max(axis=-1)
    return np.where(ir > tol * scale, ir, 0.0), np.where(ic > tol * scale, ic, 0.0)
