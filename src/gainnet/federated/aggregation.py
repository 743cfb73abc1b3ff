"""Aggregating site models: weighted mean, median, trimmed mean, Krum and multi-Krum.

Each takes the sites' full weights (dicts of float32 arrays with the same names and shapes)
in a fixed order and returns the new global weights. They follow Flower's built-in
strategies (``FedAvg``, ``FedMedian``, ``FedTrimmedAvg``, ``Krum``, ``MultiKrum`` in
``flwr.serverapp.strategy``) operation for operation, so the in-process engine and the Flower
engine aggregate alike; ``tests/unit/test_federated_aggregation.py`` checks them against hand
values and against Flower's.
"""

from __future__ import annotations

import numpy as np

from gainnet.errors import GainnetError

Weights = dict[str, np.ndarray]


def weighted_mean(updates: list[Weights], num_examples: list[float]) -> Weights:
    """``sum_i (n_i / sum n) w_i``, accumulated in the given order (FedAvg)."""
    _check(updates)
    if len(num_examples) != len(updates):
        raise GainnetError(f"{len(updates)} updates but {len(num_examples)} example counts")
    total = float(sum(num_examples))
    if not total > 0:
        raise GainnetError("weighted mean needs a positive total number of examples")
    out: Weights = {}
    for update, n in zip(updates, num_examples, strict=True):
        factor = n / total
        for k, v in update.items():
            if k in out:
                out[k] += v * factor
            else:
                out[k] = v * factor
    return {k: np.asarray(v) for k, v in out.items()}


def coordinate_median(updates: list[Weights]) -> Weights:
    """Entry-wise median of the sites' weights (FedMedian)."""
    _check(updates)
    return {k: np.asarray(np.median(np.stack([u[k] for u in updates]), axis=0)) for k in updates[0]}


def trimmed_mean(updates: list[Weights], cut_fraction: float) -> Weights:
    """Entry-wise mean after cutting ``int(cut_fraction * m)`` values at each end
    (FedTrimmedAvg's ``trim_mean``, after scipy's)."""
    _check(updates)
    if not 0.0 <= cut_fraction < 0.5:
        raise GainnetError(f"trim fraction must be in [0, 0.5), got {cut_fraction}")
    m = len(updates)
    low = int(cut_fraction * m)
    high = m - low
    out = {}
    for k in updates[0]:
        stacked = np.partition(np.stack([u[k] for u in updates]), (low, high - 1), axis=0)
        out[k] = np.asarray(np.mean(stacked[low:high], axis=0))
    return out


def krum_select(updates: list[Weights], num_malicious: int, num_to_select: int) -> list[int]:
    """Indices of the ``num_to_select`` updates with the lowest Krum score: the sum of squared
    distances to their ``max(1, m - f - 2)`` nearest neighbours (Blanchard et al. 2017)."""
    _check(updates)
    flat = np.stack([np.concatenate([w[k] for k in w], axis=None) for w in updates])
    norms = np.square(flat).sum(axis=1)
    distance = norms[:, None] + norms[None, :] - 2 * flat @ flat.T
    closest = max(1, len(updates) - num_malicious - 2)
    scores = [
        np.sum(distance[i, np.argsort(distance[i])[1 : closest + 1]]) for i in range(len(updates))
    ]
    return [int(i) for i in np.argsort(scores)[:num_to_select]]


def multi_krum_keep(clients_per_round: int, num_malicious: int) -> int:
    """Updates multi-Krum keeps: ``max(1, m - f)`` (fixed per run, as Flower's ``MultiKrum``
    fixes ``num_nodes_to_select``)."""
    return max(1, clients_per_round - num_malicious)


def aggregate(
    method: str,
    updates: list[Weights],
    num_examples: list[float],
    trim_fraction: float = 0.2,
    num_malicious: int = 0,
    multi_krum_count: int | None = None,
) -> tuple[Weights, list[int]]:
    """``(new weights, indices of the updates used)`` by ``method`` (see
    :data:`gainnet.federated.config.AGGREGATORS`); multi-Krum keeps ``multi_krum_count``
    updates (default ``m - f`` of the ``m`` given)."""
    everyone = list(range(len(updates)))
    if method == "mean":
        return weighted_mean(updates, num_examples), everyone
    if method == "median":
        return coordinate_median(updates), everyone
    if method == "trimmed-mean":
        return trimmed_mean(updates, trim_fraction), everyone
    if method in ("krum", "multi-krum"):
        if method == "krum":
            keep = 1
        else:
            keep = multi_krum_count or multi_krum_keep(len(updates), num_malicious)
        chosen = krum_select(updates, num_malicious, keep)
        return (
            weighted_mean([updates[i] for i in chosen], [num_examples[i] for i in chosen]),
            chosen,
        )
    raise GainnetError(f"unknown aggregator {method!r}")


def _check(updates: list[Weights]) -> None:
    if not updates:
        raise GainnetError("nothing to aggregate: no site update arrived")
    names = list(updates[0])
    for u in updates[1:]:
        if list(u) != names or any(u[k].shape != updates[0][k].shape for k in names):
            raise GainnetError("site updates disagree on tensor names or shapes")
