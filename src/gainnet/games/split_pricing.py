"""Stackelberg per-layer pricing of split inference (seed 002), as batched pure functions.

An edge server (leader) pays a price ``p`` per transformer layer that device ``n`` (a follower)
runs locally. Device ``n`` runs ``l_n`` in ``{0..L}`` layers, costing ``c(l) = a*l + b`` ms of
its compute for ``l >= 1`` and nothing for ``l = 0`` (it sends its raw input), within its
budget ``c(l_n) <= C_n``. Its utility is ``U_n = p*l_n + beta_n * ln(1 + C_n - c(l_n))``; the
server's is ``U_s = R - p * sum_n l_n - theta * sum_n (L - l_n)``.

Each follower's best response is the upper envelope of the lines ``p*l + v_n(l)`` with
``v_n(l) = beta_n ln(1 + C_n - c(l))``: non-decreasing in ``p``, changing only at finitely
many switching prices. Between them the server's utility is linear and decreasing in ``p``, so
its optimum is ``p = 0`` or a switching price approached from above (where the switching
follower takes the larger number of layers). :func:`leader_optimum` enumerates them exactly.
Shapes: ``[..., N]`` for per-device arrays, ``[...]`` for prices; ``...`` is any batch shape.
"""

from __future__ import annotations

import numpy as np

#: an exact optimum is a switching price; the leader prices this hair above it, so that the
#: switching follower strictly prefers the larger number of layers
TIE_MARGIN = 1e-9


def layer_values(beta, capacity_ms, a_ms, b_ms, num_layers: int) -> np.ndarray:
    """``v[..., N, L+1]``: ``beta * ln(1 + C - c(l))``, ``-inf`` where ``c(l) > C``."""
    beta = np.asarray(beta, dtype=float)[..., None]
    capacity = np.asarray(capacity_ms, dtype=float)[..., None]
    layers = np.arange(num_layers + 1)
    cost = np.where(layers == 0, 0.0, a_ms * layers + b_ms)
    slack = 1.0 + capacity - cost
    with np.errstate(divide="ignore", invalid="ignore"):
        values = beta * np.log(np.where(cost <= capacity, slack, 1.0))
    return np.where(cost <= capacity, values, -np.inf)


def best_response(price, values: np.ndarray) -> np.ndarray:
    """Integer layers ``[..., N]`` maximising ``price*l + v(l)``; exact ties go to larger ``l``."""
    price = np.asarray(price, dtype=float)[..., None, None]
    layers = np.arange(values.shape[-1])
    payoff = price * layers + values
    # argmax over reversed l picks the largest l among equal maxima
    return values.shape[-1] - 1 - np.argmax(payoff[..., ::-1], axis=-1)


def switching_prices(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each follower's switching prices and layer jumps, ``[..., N, L]`` each.

    Walking up the upper envelope from ``l = 0`` (the best response at ``p = 0``): the next
    switch from ``l`` is at ``min_{l' > l} (v(l) - v(l')) / (l' - l)``, to the largest ``l'``
    attaining it. Unused slots hold ``inf`` prices and zero jumps.
    """
    shape = values.shape[:-1]
    width = values.shape[-1]
    flat = values.reshape(-1, width)
    m = flat.shape[0]
    prices = np.full((m, width - 1), np.inf)
    jumps = np.zeros((m, width - 1), dtype=np.int64)
    current = np.zeros(m, dtype=np.int64)
    layers = np.arange(width)
    rows = np.arange(m)
    for step in range(width - 1):
        here = flat[rows, current][:, None]
        ahead = layers[None, :] > current[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = (here - flat) / (layers[None, :] - current[:, None])
        slope = np.where(ahead & np.isfinite(flat), slope, np.inf)
        best = slope.min(axis=1)
        live = np.isfinite(best)
        if not live.any():
            break
        # the largest l' attaining the minimum (ties: jump the furthest)
        target = width - 1 - np.argmax((slope == best[:, None])[:, ::-1], axis=1)
        prices[live, step] = best[live]
        jumps[live, step] = target[live] - current[live]
        current = np.where(live, target, current)
    return prices.reshape(*shape, width - 1), jumps.reshape(*shape, width - 1)


def server_utility(price, layers, revenue, theta, num_layers: int) -> np.ndarray:
    """``R - p * sum l - theta * sum (L - l)`` for ``price [...]`` and ``layers [..., N]``."""
    layers = np.asarray(layers, dtype=float)
    total = layers.sum(axis=-1)
    return revenue - np.asarray(price) * total - theta * (layers.shape[-1] * num_layers - total)


def leader_optimum(values: np.ndarray, theta: float, price_max: float) -> np.ndarray:
    """The exact optimal price ``[...]`` in ``[0, price_max]`` (see the module doc).

    Candidates: ``p = 0`` and every switching price ``<= price_max``; at a switching price the
    server's utility (up to constants) is ``(theta - p) * S(p)`` with ``S(p)`` the layers
    devices run just above ``p``. The returned price is the best candidate plus a relative
    margin of :data:`TIE_MARGIN`, so the followers' strict best responses realise it.
    """
    return leader_candidates(values, theta, price_max, 1)[..., 0]


def leader_candidates(values: np.ndarray, theta: float, price_max: float, k: int) -> np.ndarray:
    """The ``k`` best candidate prices ``[..., k]``, best first (:func:`leader_optimum` is the
    first). Candidates are ``p = 0`` and the switching prices ``<= price_max`` (with the tie
    margin); where fewer than ``k`` exist, the last slots repeat the best.
    """
    prices, jumps = switching_prices(values)
    batch = prices.shape[:-2]
    prices = prices.reshape(*batch, -1)
    jumps = jumps.reshape(*batch, -1)
    order = np.argsort(prices, axis=-1, kind="stable")
    prices = np.take_along_axis(prices, order, axis=-1)
    offloaded = np.cumsum(np.take_along_axis(jumps, order, axis=-1), axis=-1)
    allowed = prices <= price_max
    gain = np.where(allowed, (theta - np.where(allowed, prices, 0.0)) * offloaded, -np.inf)
    # p = 0 gains 0; a switching price must gain strictly more to rank above it
    gain = np.concatenate([np.zeros((*batch, 1)), gain], axis=-1)
    price = np.concatenate([np.zeros((*batch, 1)), np.minimum(_with_margin(prices), price_max)], -1)
    rank = np.argsort(-gain, axis=-1, kind="stable")[..., :k]
    best = np.take_along_axis(price, rank, axis=-1)
    valid = np.isfinite(np.take_along_axis(gain, rank, axis=-1))
    if best.shape[-1] < k:  # fewer candidates than asked for: pad with the best
        pad = np.repeat(best[..., :1], k - best.shape[-1], axis=-1)
        best, valid = np.concatenate([best, pad], -1), np.concatenate([valid, pad == pad], -1)
    return np.where(valid, best, best[..., :1])


def _with_margin(price: np.ndarray) -> np.ndarray:
    return price * (1 + TIE_MARGIN) + TIE_MARGIN


def snap_down(values: np.ndarray, price, price_max: float) -> np.ndarray:
    """The best price no higher than ``price`` that the followers answer the same way.

    Between two switching prices the followers' responses do not change and the server's
    utility falls with the price, so any ``price`` is weakly beaten by the switching price just
    below it (with the tie margin), or by 0 below the first one. Returns ``[...]``.
    """
    prices, _ = switching_prices(values)
    prices = prices.reshape(*prices.shape[:-2], -1)
    price = np.asarray(price, dtype=float)
    below = np.where(_with_margin(prices) <= price[..., None], prices, -np.inf).max(axis=-1)
    return np.minimum(np.where(np.isfinite(below), _with_margin(below), 0.0), price_max)


def band_middle(values: np.ndarray, price, price_max: float) -> np.ndarray:
    """Middle of the price band that :func:`snap_down` maps to ``price`` (a robust target)."""
    prices, _ = switching_prices(values)
    prices = prices.reshape(*prices.shape[:-2], -1)
    price = np.asarray(price, dtype=float)
    above = np.where(prices > price[..., None], prices, np.inf).min(axis=-1)
    top = np.minimum(np.where(np.isfinite(above), above, price_max), price_max)
    return np.where(top > price, (price + top) / 2, price)
