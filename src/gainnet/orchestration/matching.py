"""Matching GAI requests to edge nodes, models and quality levels: demands and the greedy repair.

GainNet's "decoupled universal resource pools" made concrete: ``S`` edge nodes, each with a
pool of uplink bandwidth (Hz), compute (FLOP/s) and memory (GB) and a subset of the service
models; ``R`` requests, each of one service type with a deadline, a payload and a value. Serving
request ``r`` on node ``s`` at quality level ``q`` reserves

- bandwidth ``b_rs``: the least that uploads the payload within ``upload_share`` of the
  deadline over the request's channel to that node (:func:`gainnet.orchestration.slot.
  min_bandwidth_hz`, with the SNR lowered by a fade margin);
- compute ``f_rq = work[type, q] / ((1 - upload_share) deadline)``: the rest of the deadline;
- memory ``m_rq = memory[type, q]`` (KV cache or activations; the weights stay resident);

and earns ``value_r gain[type, q]``. A matching is feasible when no pool is exceeded and each
request is served at most once, by a node that hosts its model: a multi-choice,
multi-dimensional knapsack, solved exactly by :mod:`gainnet.experts.iscc_milp`.

:func:`assign` is the always-feasible repair every decision passes through: requests in a
given order, each to its most preferred (node, level) that still fits, else rejected.
Units: seconds, hertz, bits, FLOP, FLOP/s, GB. Arrays are batched, ``[n, ...]``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys

import numpy as np

from gainnet.orchestration.slot import min_bandwidth_hz

#: the service types, in the order of the tables below
SERVICES = ("summarisation", "image-generation", "sensing-fusion")
#: quality levels per service
NUM_LEVELS = 3
#: FLOP per request at each level (rows: services; columns: levels). Summarisation: a 1B, 3B or
#: 8B-parameter LLM over a 2,000-token record plus 256 generated tokens (2 x parameters FLOP per
#: token); image generation: 10, 25 or 50 steps of a latent diffusion model at ~0.8 TFLOP per
#: step (512 x 512, classifier-free guidance); sensing fusion: a bird's-eye-view perception
#: transformer at three input resolutions.
WORK_FLOP = np.array(
    [
        [2 * 1e9 * 2256, 2 * 3e9 * 2256, 2 * 8e9 * 2256],
        [10 * 0.8e12, 25 * 0.8e12, 50 * 0.8e12],
        [0.5e12, 1.5e12, 4e12],
    ]
)
#: GB of memory per request at each level (KV cache, activations)
MEMORY_GB = np.array([[0.1, 0.25, 0.5], [0.6, 0.6, 0.6], [0.2, 0.3, 0.5]])
#: the share of a request's value each level earns
QUALITY_GAIN = np.array([[0.6, 0.85, 1.0], [0.6, 0.85, 1.0], [0.6, 0.85, 1.0]])


@dataclasses.dataclass(frozen=True)
class Demands:
    """What serving each request reserves, batched.

    Attributes
    ----------
    bandwidth_hz : ``[n, R, S]``, ``inf`` where the node's channel cannot meet the deadline.
    compute_flops, memory_gb, value : ``[n, R, Q]``: per level.
    allowed : ``[n, R, S]`` bool: the node hosts the request's model and its channel suffices.
    """

    bandwidth_hz: np.ndarray
    compute_flops: np.ndarray
    memory_gb: np.ndarray
    value: np.ndarray
    allowed: np.ndarray


def demands(
    service: np.ndarray,
    deadline_s: np.ndarray,
    payload_bits: np.ndarray,
    value: np.ndarray,
    snr_per_hz: np.ndarray,
    hosts: np.ndarray,
    *,
    upload_share: float,
    fade_margin_db: float,
) -> Demands:
    """The reservations of every (request, node, level).

    ``service``, ``deadline_s``, ``payload_bits``, ``value``: ``[n, R]`` (service as type
    indices); ``snr_per_hz``: ``[n, R, S]`` (Hz); ``hosts``: ``[n, S, len(SERVICES)]`` 0/1.
    """
    kind = service.astype(int)
    upload_s = upload_share * deadline_s
    rho = snr_per_hz * 10.0 ** (-fade_margin_db / 10.0)
    bandwidth = min_bandwidth_hz(payload_bits[..., None] / upload_s[..., None], rho, 1.0)
    compute = WORK_FLOP[kind] / ((1 - upload_share) * deadline_s)[..., None]
    hosted = np.take_along_axis(hosts, kind[:, None, :].repeat(hosts.shape[1], 1), axis=2)
    allowed = (np.swapaxes(hosted, 1, 2) > 0) & np.isfinite(bandwidth)
    return Demands(
        bandwidth_hz=bandwidth,
        compute_flops=compute,
        memory_gb=MEMORY_GB[kind],
        value=value[..., None] * QUALITY_GAIN[kind],
        allowed=allowed,
    )


def assign(
    order: np.ndarray,
    preference: np.ndarray,
    need: Demands,
    pools: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> np.ndarray:
    """``[n, R, 2]``: node and level per request (``-1, -1`` when rejected), always feasible.

    Requests are taken in ``order`` (``[n, R]``, a permutation per instance); each goes to its
    highest-``preference`` (``[n, R, S, Q]``) node and level that is allowed and still fits in
    the remaining ``pools`` (bandwidth Hz, compute FLOP/s, memory GB; each ``[n, S]``), or is
    rejected when none fits. One Python step per request, vectorised over the batch.
    """
    n, r_count = need.bandwidth_hz.shape[:2]
    left = [np.array(pool, dtype=float, copy=True) for pool in pools]
    decision = np.full((n, r_count, 2), -1.0)
    rows = np.arange(n)
    for position in range(r_count):
        r = order[:, position]
        bandwidth = need.bandwidth_hz[rows, r]  # [n, S]
        compute, memory = need.compute_flops[rows, r], need.memory_gb[rows, r]  # [n, Q]
        fits = (
            need.allowed[rows, r][:, :, None]
            & (bandwidth <= left[0])[:, :, None]
            & (compute[:, None, :] <= left[1][:, :, None])
            & (memory[:, None, :] <= left[2][:, :, None])
        )
        score = np.where(fits, preference[rows, r], -np.inf).reshape(n, -1)
        best = np.argmax(score, axis=1)
        served = np.isfinite(score[rows, best])
        node, level = np.divmod(best, NUM_LEVELS)
        taken = rows[served]
        node_s, level_s = node[served], level[served]
        left[0][taken, node_s] -= bandwidth[taken, node_s]
        left[1][taken, node_s] -= compute[taken, level_s]
        left[2][taken, node_s] -= memory[taken, level_s]
        decision[taken, r[served]] = np.stack([node_s, level_s], axis=1)
    return decision


def usage(decision: np.ndarray, need: Demands, num_nodes: int) -> tuple[np.ndarray, ...]:
    """``(bandwidth, compute, memory)`` reserved on each node, each ``[n, S]``."""
    n, r_count = decision.shape[:2]
    node = decision[..., 0].astype(int)
    level = np.clip(decision[..., 1].astype(int), 0, NUM_LEVELS - 1)
    served = node >= 0
    safe_node = np.where(served, node, 0)
    rows, cols = np.indices((n, r_count))
    bandwidth = np.where(served, need.bandwidth_hz[rows, cols, safe_node], 0.0)
    compute = np.where(served, need.compute_flops[rows, cols, level], 0.0)
    memory = np.where(served, need.memory_gb[rows, cols, level], 0.0)
    one_hot = served[..., None] & (safe_node[..., None] == np.arange(num_nodes))
    return tuple(
        np.einsum("nr,nrs->ns", v, one_hot.astype(float)) for v in (bandwidth, compute, memory)
    )


def matching_value(decision: np.ndarray, need: Demands) -> np.ndarray:
    """``[n]``: the value of the served requests."""
    level = decision[..., 1].astype(int)
    served = level >= 0
    earned = np.take_along_axis(need.value, np.where(served, level, 0)[..., None], axis=2)[..., 0]
    return np.where(served, earned, 0.0).sum(axis=1)


@dataclasses.dataclass(frozen=True)
class MilpResult:
    """One instance's MILP solution.

    Attributes
    ----------
    decision : ``[R, 2]`` node and level per request (``-1`` rejected).
    value : its objective; bound : the LP relaxation's optimum (an upper bound);
    optimal : HiGHS proved optimality (within ``mip_rel_gap``); seconds : the MILP's wall time.
    """

    decision: np.ndarray
    value: float
    bound: float
    optimal: bool
    seconds: float


def solve_milp(
    need: Demands,
    pools: tuple[np.ndarray, np.ndarray, np.ndarray],
    index: int,
    *,
    time_limit_s: float,
    mip_rel_gap: float,
) -> MilpResult:
    """Instance ``index`` of the batch as a 0/1 programme, by HiGHS (``scipy.optimize.milp``).

    Variables ``x_rsq`` for the allowed (request, node, level) triples that fit an empty node;
    rows: each request served at most once, and each node's three pools, scaled to 1.
    """
    import time

    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_matrix

    bandwidth, compute = need.bandwidth_hz[index], need.compute_flops[index]
    memory, value = need.memory_gb[index], need.value[index]
    pool = [np.asarray(p[index], dtype=float) for p in pools]
    r_count, s_count = bandwidth.shape
    r, s, q = np.nonzero(
        need.allowed[index][:, :, None]
        & (bandwidth <= pool[0])[:, :, None]
        & (compute[:, None, :] <= pool[1][:, None])
        & (memory[:, None, :] <= pool[2][:, None])
    )
    decision = np.full((r_count, 2), -1.0)
    if r.size == 0:
        return MilpResult(decision, 0.0, 0.0, True, 0.0)
    column = np.arange(r.size)
    safe = [np.where(p > 0, p, 1.0) for p in pool]
    rows = np.concatenate([r, r_count + s, r_count + s_count + s, r_count + 2 * s_count + s])
    entries = np.concatenate(
        [
            np.ones(r.size),
            bandwidth[r, s] / safe[0][s],
            compute[r, q] / safe[1][s],
            memory[r, q] / safe[2][s],
        ]
    )
    matrix = coo_matrix(
        (entries, (rows, np.tile(column, 4))), shape=(r_count + 3 * s_count, r.size)
    ).tocsr()
    rows_ub = np.ones(r_count + 3 * s_count)
    constraint = LinearConstraint(matrix, -np.inf, rows_ub)
    cost = -value[r, q]
    start = time.perf_counter()
    with _quiet_stdout():
        result = milp(
            cost,
            constraints=constraint,
            integrality=np.ones(r.size),
            bounds=Bounds(0, 1),
            options={"time_limit": time_limit_s, "mip_rel_gap": mip_rel_gap},
        )
    seconds = time.perf_counter() - start
    relaxed = milp(cost, constraints=constraint, integrality=np.zeros(r.size), bounds=Bounds(0, 1))
    bound = -float(relaxed.fun) if relaxed.x is not None else float("nan")
    if result.x is None:  # no incumbent within the time limit: reject everything
        return MilpResult(decision, 0.0, bound, False, seconds)
    chosen = result.x > 0.5
    decision[r[chosen], 0] = s[chosen]
    decision[r[chosen], 1] = q[chosen]
    return MilpResult(
        decision, float(value[r, q][chosen].sum()), bound, result.status == 0, seconds
    )


@contextlib.contextmanager
def _quiet_stdout():
    """Send file descriptor 1 to ``/dev/null`` for the block: the HiGHS in SciPy 1.17 writes a
    stray debugging line there even with output disabled (ERGO-Code/HiGHS#2783), which would
    corrupt ``--json`` output. Python's own buffered output is flushed first."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # no real stdout (captured): nothing to hide
        fd = 1
    sys.stdout.flush()
    try:
        saved = os.dup(fd)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
