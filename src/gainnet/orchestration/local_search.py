"""A local search on feasible matchings: best responses and make-room swaps.

:func:`improve` starts from a feasible matching (``[n, R, 2]``: node and level per request,
``-1`` when rejected) and repeats passes of two moves, each applied only when it raises the
matching's value, so the value never falls and the matching stays feasible:

1. *best response*: request ``r`` gives up its reservation and takes the highest-value allowed
   (node, level) that fits what is left, possibly the one it had (this upgrades levels, moves
   requests between nodes and serves rejected requests that now fit);
2. *make room*: request ``r`` (rejected, or served elsewhere or at a lower level) takes node
   ``s`` at level ``q`` by lowering one other request on ``s`` to a lower level or rejecting
   it, when the value ``r`` gains exceeds the value the other loses.

One Python step per request and pass, vectorised over the batch (``O(n R^2)`` work per pass).
It uses only what the decision maker observes: demands and pools. Units as in
:mod:`gainnet.orchestration.matching`.
"""

from __future__ import annotations

import numpy as np

from gainnet.orchestration.matching import NUM_LEVELS, Demands, usage

#: the least value gain that counts as an improvement (guards against float ties looping)
MIN_GAIN = 1e-9


def improve(
    decision: np.ndarray,
    need: Demands,
    pools: tuple[np.ndarray, np.ndarray, np.ndarray],
    passes: int,
) -> np.ndarray:
    """``decision`` after ``passes`` passes of both moves; never lower in value, still feasible.

    ``decision``: ``[n, R, 2]`` feasible; ``need``: the scenario's demands; ``pools``: bandwidth
    (Hz), compute (FLOP/s) and memory (GB) per node, each ``[n, S]``.
    """
    decision = np.array(decision, dtype=float, copy=True)
    n, r_count = decision.shape[:2]
    s_count = need.bandwidth_hz.shape[2]
    left = [
        np.asarray(p, dtype=float) - u
        for p, u in zip(pools, usage(decision, need, s_count), strict=True)
    ]
    rows = np.arange(n)
    for _ in range(passes):
        before = decision.copy()
        for r in range(r_count):
            _best_response(decision, left, need, rows, r)
            _make_room(decision, left, need, rows, r)
        if np.array_equal(before, decision):
            break
    return decision


def _reservation(need: Demands, rows, r, node, level):
    """``(bandwidth, compute, memory)`` ``[n]`` that request ``r`` holds at ``node, level``
    (0 where it is rejected)."""
    served = node >= 0
    safe_node, safe_level = np.where(served, node, 0), np.where(level >= 0, level, 0)
    return [
        np.where(served, need.bandwidth_hz[rows, r, safe_node], 0.0),
        np.where(served, need.compute_flops[rows, r, safe_level], 0.0),
        np.where(served, need.memory_gb[rows, r, safe_level], 0.0),
    ]


def _value(need: Demands, rows, r, level) -> np.ndarray:
    return np.where(level >= 0, need.value[rows, r, np.where(level >= 0, level, 0)], 0.0)


def _move(decision, left, need, rows, r, where, node, level) -> None:
    """Move request ``r`` to ``node, level`` (``-1`` rejects) in the instances ``where``."""
    old_node = decision[rows, r, 0].astype(int)
    old = _reservation(need, rows, r, old_node, decision[rows, r, 1].astype(int))
    new = _reservation(need, rows, r, node, level)
    for pool_left, o, w in zip(left, old, new, strict=True):
        i = rows[where & (old_node >= 0)]
        np.add.at(pool_left, (i, old_node[i]), o[i])
        j = rows[where & (node >= 0)]
        np.add.at(pool_left, (j, node[j]), -w[j])
    decision[where, r, 0] = node[where]
    decision[where, r, 1] = level[where]


def _without(left, need, rows, r, node, level) -> list[np.ndarray]:
    """What each node would have left (``[n, S]`` per pool) if request ``r`` held nothing."""
    free = [pool_left.copy() for pool_left in left]
    held = rows[node >= 0]
    for pool_free, o in zip(free, _reservation(need, rows, r, node, level), strict=True):
        pool_free[held, node[held]] += o[held]
    return free


def _best_response(decision, left, need, rows, r) -> None:
    node = decision[rows, r, 0].astype(int)
    level = decision[rows, r, 1].astype(int)
    free = _without(left, need, rows, r, node, level)
    fits = (
        need.allowed[rows, r][:, :, None]
        & (need.bandwidth_hz[rows, r] <= free[0])[:, :, None]
        & (need.compute_flops[rows, r][:, None, :] <= free[1][:, :, None])
        & (need.memory_gb[rows, r][:, None, :] <= free[2][:, :, None])
    )  # [n, S, Q]
    score = np.where(fits, need.value[rows, r][:, None, :], -np.inf).reshape(len(rows), -1)
    best = np.argmax(score, axis=1)
    better = score[rows, best] > _value(need, rows, r, level) + MIN_GAIN
    new_node, new_level = np.divmod(best, NUM_LEVELS)
    _move(decision, left, need, rows, r, better, new_node, new_level)


def _make_room(decision, left, need, rows, r) -> None:
    n, r_count, q_count = need.value.shape
    node_r = decision[rows, r, 0].astype(int)
    level_r = decision[rows, r, 1].astype(int)
    free = _without(left, need, rows, r, node_r, level_r)
    other_node = decision[..., 0].astype(int)  # [n, R]
    other_level = decision[..., 1].astype(int)
    on = other_node >= 0
    on[:, r] = False
    safe_node = np.where(on, other_node, 0)
    safe_level = np.where(on, other_level, 0)
    grid = np.indices((n, r_count))
    # the other request's reservation now, and at each lower option (-1 = rejected, 0..Q-2)
    options = np.arange(-1, q_count - 1)  # [O]
    lower = on[..., None] & (options[None, None, :] < other_level[..., None])  # [n, R, O]
    opt_level = np.maximum(options, 0)
    other_value_now = need.value[grid[0], grid[1], safe_level]
    other_value_opt = np.where(options >= 0, need.value[:, :, opt_level], 0.0)  # [n, R, O]
    compute_opt = np.where(options >= 0, need.compute_flops[:, :, opt_level], 0.0)
    memory_opt = np.where(options >= 0, need.memory_gb[:, :, opt_level], 0.0)
    bandwidth_now = need.bandwidth_hz[grid[0], grid[1], safe_node]
    freed = (
        np.where(options < 0, bandwidth_now[..., None], 0.0),
        need.compute_flops[grid[0], grid[1], safe_level][..., None] - compute_opt,
        need.memory_gb[grid[0], grid[1], safe_level][..., None] - memory_opt,
    )  # each [n, R, O]
    room = [
        np.take_along_axis(pool_free, safe_node, axis=1)[..., None] + f
        for pool_free, f in zip(free, freed, strict=True)
    ]  # each [n, R, O]: what the other's node would have left
    own_bandwidth = np.take_along_axis(need.bandwidth_hz[rows, r], safe_node, axis=1)  # [n, R]
    own_allowed = np.take_along_axis(need.allowed[rows, r], safe_node, axis=1)
    fits = (
        (lower & own_allowed[..., None] & (own_bandwidth[..., None] <= room[0]))[..., None]
        & (need.compute_flops[rows, r][:, None, None, :] <= room[1][..., None])
        & (need.memory_gb[rows, r][:, None, None, :] <= room[2][..., None])
    )  # [n, R(other), O, Q(own)]
    gain = (
        need.value[rows, r][:, None, None, :]
        - _value(need, rows, r, level_r)[:, None, None, None]
        - (other_value_now[..., None] - other_value_opt)[..., None]
    )
    score = np.where(fits, gain, -np.inf).reshape(n, -1)
    best = np.argmax(score, axis=1)
    better = score[rows, best] > MIN_GAIN
    if not better.any():
        return
    other, option, own_level = np.unravel_index(best, (r_count, len(options), q_count))
    target = other_node[rows, other]
    out = np.full(n, -1)
    _move(decision, left, need, rows, r, better, out, out)
    for v in np.unique(other[better]):
        where = better & (other == v)
        new_level = np.full(n, -1)
        new_level[where] = options[option[where]]
        new_node = np.where(new_level >= 0, target, -1)
        _move(decision, left, need, rows, v, where, new_node, new_level)
    _move(decision, left, need, rows, r, better, target, own_level)
