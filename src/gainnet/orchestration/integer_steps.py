"""Whole denoising steps: the ISCC slot's generation time rounded to an integer step count.

A diffusion model runs whole steps, so with ``integer_steps=True`` the slot's ``s_k = g_k f_k /
c_k`` must be an integer. Given a user's compute ``f`` and its time after the upload ``t = tau +
g``, its value ``alpha (1 - e^{-gamma (t - s c / f)}) + (1 - alpha) beta ln s`` is concave in
``s``, so the best whole number of steps is the floor or the ceiling of the continuous one:
round down, then take the one step more (paid for with sensing time) where it is worth more.
The time a rounding down frees goes to sensing. Bandwidth and compute stay as they were, so the
result is exact per user for the given ``(b, f)`` and its loss against the continuous optimum
is the *rounding gap*, reported apart from it.

A user whose whole time cannot buy one step (``t f / c < 1``; only adversarial actions decode
to that, never the expert) keeps its fractional split and the negative quality it brings.
"""

from __future__ import annotations

import numpy as np

#: relative slack under which a computed step count still counts as whole (float rounding of
#: ``s c / f * f / c``)
WHOLE_TOL = 1e-9


def _user_value(time_s, steps, seconds_per_step, alpha, sensing_rate_per_s, quality_slope):
    sensing_s = time_s - steps * seconds_per_step
    with np.errstate(divide="ignore", invalid="ignore"):
        value = alpha * (1 - np.exp(-sensing_rate_per_s * sensing_s)) + (
            1 - alpha
        ) * quality_slope * np.log(steps)
    return np.where((steps >= 1) & (sensing_s >= 0), value, -np.inf)


def whole_steps(
    sensing_s: np.ndarray,
    compute_flops: np.ndarray,
    generation_s: np.ndarray,
    *,
    alpha: float,
    sensing_rate_per_s: np.ndarray,
    quality_slope: np.ndarray,
    flops_per_step: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """``(sensing_s, generation_s)``, each ``[n, K]``, with a whole number of steps per user.

    Inputs are ``[n, K]`` (seconds, FLOP/s, seconds; 1/s, per log-step, FLOP); each user's
    ``sensing_s + generation_s`` is kept.
    """
    time_s = sensing_s + generation_s
    seconds_per_step = flops_per_step / compute_flops
    low = np.floor(generation_s / seconds_per_step * (1 + WHOLE_TOL))
    args = (alpha, sensing_rate_per_s, quality_slope)
    value_low = _user_value(time_s, low, seconds_per_step, *args)
    value_high = _user_value(time_s, low + 1, seconds_per_step, *args)
    steps = np.where(value_high > value_low, low + 1, low)
    whole = np.isfinite(np.maximum(value_low, value_high))
    generation = np.where(whole, np.minimum(steps * seconds_per_step, time_s), generation_s)
    return time_s - generation, generation


def steps_are_whole(
    compute_flops: np.ndarray, generation_s: np.ndarray, flops_per_step: np.ndarray
) -> np.ndarray:
    """``[n, K]``: each user runs a whole number of steps, or cannot afford one (``s < 1``)."""
    steps = generation_s * compute_flops / flops_per_step
    return (steps < 1) | (np.abs(steps - np.round(steps)) <= WHOLE_TOL * np.maximum(steps, 1))
