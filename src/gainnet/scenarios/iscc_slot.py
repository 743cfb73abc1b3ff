"""``iscc-slot``: sensing, uplink bandwidth and edge compute for K generative-AI users in a slot.

One edge node, one slot of ``T`` seconds (GainNet's ISCC orchestration made concrete; the maths
and its exact solution are in :mod:`gainnet.orchestration.slot`). User ``k`` senses for
``tau_k`` s, uploads ``D_k`` bits over ``b_k`` Hz, and the node runs ``s_k = g_k f_k / c_k``
denoising steps for it in ``g_k`` s with ``f_k`` FLOP/s:

    max  sum_k w_k [alpha (1 - exp(-gamma_k tau_k)) + (1 - alpha) beta_k ln s_k]
    s.t. tau_k + D_k / r_k(b_k) + g_k <= T,   sum_k b_k <= B,   sum_k f_k <= F,

with ``r_k(b) = b log2(1 + rho_k / b)``. A decision is ``[n, K, 4]``: columns sensing seconds,
bandwidth Hz, compute FLOP/s, generation seconds. Every sampled instance is feasible (the
minimum bandwidths that meet the deadline add up to less than ``B``; infeasible draws are
redrawn); a state given by hand that is not is refused, naming its rows.

Action encoding (``decode`` / ``encode``)
-----------------------------------------
An action is ``[K, 4]`` per instance, flattened user by user: ``(a_tau, a_b, a_f, a_g)``.

- Bandwidth: ``b_k = b_min_k + (B - sum_j b_min_j) x_k`` with ``x = m(a_b) / sum m(a_b)``,
  ``m(a) = max(a, SHARE_FLOOR)``: every user gets more than its minimum, all of ``B`` is spent.
- Compute: ``f = F m(a_f) / sum m(a_f)``.
- Time: with ``L_k = T - D_k / r_k(b_k)`` left after the upload, ``tau = L p / (p + q)``,
  ``g = L q / (p + q)`` for ``p = max(a_tau, 0)``, ``q = m(a_g)``: no sensing at all is
  reached exactly (``a_tau <= 0``) and generation always gets time.

All-ones actions are the equal split: every user its minimum plus an equal share of the spare
bandwidth, an equal share of the compute, and half of its time left to sensing. ``encode``
inverts this for decisions that spend every resource and meet the deadline exactly (the
expert's): shares relative to the largest; a user that does not sense gets the continuation
``(L - g*) / g*`` (< 0) of its unconstrained time split ``g*``, so the imitation target is
smooth where sensing switches off. Shares below ``SHARE_FLOOR`` of the largest are not
expressible (the expert's smallest, over 10,000 default draws, is 0.066).

Observation: ``[n, 6K]``, six blocks of ``K``: payload (Mbit), SNR per Hz rho (MHz), sensing
rate gamma (1/s), FLOP per step (TFLOP), weight and quality slope, in float32: units chosen so
the differentiable decode recovers the upload time to ~1e-7 s.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from gainnet.core.arrays import real_array
from gainnet.core.registry import SCENARIOS
from gainnet.core.scenario import Scenario, StateBatch
from gainnet.core.validation import Validated, check_ranges, range_setting, setting
from gainnet.errors import InvalidConfigError, InvalidStateError
from gainnet.orchestration.integer_steps import steps_are_whole, whole_steps
from gainnet.orchestration.slot import (
    InfeasibleSlotError,
    min_bandwidth_hz,
    slot_utility,
    uplink_rate_bps,
)

#: the smallest share of a resource relative to the largest one an action can express
SHARE_FLOOR = 0.01
#: relative slack of the feasibility checks (deadline, bandwidth and compute budgets)
FEASIBILITY_TOL = 1e-9
#: the most users in one slot
MAX_USERS = 1024
#: redraws of infeasible instances before the parameters are declared infeasible
MAX_REDRAWS = 50
#: the observation's units: Mbit, MHz, 1/s, TFLOP per step, weight, quality slope
OBS_SCALE = (1e6, 1e6, 1.0, 1e12, 1.0, 1.0)
FIELDS = (
    "payload_bits",
    "snr_per_hz",
    "sensing_rate_per_s",
    "flops_per_step",
    "weight",
    "quality_slope",
)


@dataclasses.dataclass(frozen=True)
class IsccSlotParams(Validated):
    """Parameters of ``iscc-slot``; per-user values are drawn uniformly from their ranges.

    Attributes
    ----------
    num_users : int
        K, users in the slot (1..1024).
    deadline_s : float
        T, the slot (s): sensing, upload and generation of every user fit in it.
    bandwidth_hz : float
        B, the uplink bandwidth to share (Hz).
    compute_flops : float
        F, the edge node's compute to share (FLOP/s).
    alpha : float
        The weight of sensing accuracy against generation quality, in (0, 1).
    payload_bits_range : (low, high)
        D, sensed data plus prompt per user (bits).
    snr_per_hz_log10_range : (low, high)
        ``log10 rho``, where ``rho = p h / N0`` (Hz) is the received SNR times the bandwidth;
        drawn log-uniformly.
    sensing_rate_per_s_range : (low, high)
        gamma: sensing accuracy is ``1 - exp(-gamma tau)``.
    flops_per_step_range : (low, high)
        c, FLOP per denoising step of the user's diffusion model.
    weight_range, quality_slope_range : (low, high)
        w (the user's priority) and beta (quality per log-step); a range with ``low == high``
        fixes the value.
    integer_steps : bool
        Whole denoising steps only: decisions (decoded actions and the expert's) round each
        user's steps down and spend the freed time on sensing, or take one step more where
        that is worth more (:mod:`gainnet.orchestration.integer_steps`); a decision with
        fractional steps is infeasible.
    """

    num_users: int = setting(5, low=1, high=MAX_USERS)
    deadline_s: float = setting(0.5, gt=0, high=3600.0)
    bandwidth_hz: float = setting(20e6, gt=0, high=1e12)
    compute_flops: float = setting(200e12, gt=0, high=1e21)
    alpha: float = setting(0.5, gt=0, lt=1)
    payload_bits_range: tuple[float, ...] = range_setting((0.5e6, 4e6), high=1e12)
    snr_per_hz_log10_range: tuple[float, ...] = range_setting((7.0, 9.0), gt=-30.0, high=30.0)
    sensing_rate_per_s_range: tuple[float, ...] = range_setting((5.0, 40.0), high=1e6)
    flops_per_step_range: tuple[float, ...] = range_setting((0.2e12, 0.8e12), high=1e18)
    weight_range: tuple[float, ...] = range_setting((0.5, 2.0), high=1e6)
    quality_slope_range: tuple[float, ...] = range_setting((0.15, 0.25), high=1e6)
    integer_steps: bool = False

    def check(self) -> None:
        check_ranges(self)


@dataclasses.dataclass(frozen=True)
class IsccSlotState(StateBatch):
    """A batch of slots: every field ``[n, K]``, > 0.

    Attributes
    ----------
    payload_bits : bits to upload; snr_per_hz : rho (Hz); sensing_rate_per_s : gamma (1/s);
    flops_per_step : c (FLOP); weight : w; quality_slope : beta.
    """

    payload_bits: np.ndarray
    snr_per_hz: np.ndarray
    sensing_rate_per_s: np.ndarray
    flops_per_step: np.ndarray
    weight: np.ndarray
    quality_slope: np.ndarray


# Presets (docs/iscc.md cites each number).
PRESETS: dict[str, dict[str, Any]] = {
    # gainnet's references section 5: a 20 MHz uplink, a 200 TFLOP/s GPU, 5 users
    "edge-gpu": {},
    # 20 users on a 100 MHz NR carrier (FR1's widest) and ~1 PFLOP/s (one H100's dense FP16)
    "dense-cell": {"num_users": 20, "bandwidth_hz": 100e6, "compute_flops": 1000e12},
    # vehicles: a 100 ms slot, sensing-heavy utility, small payloads and a distilled model
    "vehicular": {
        "num_users": 10,
        "deadline_s": 0.1,
        "bandwidth_hz": 40e6,
        "compute_flops": 400e12,
        "alpha": 0.7,
        "payload_bits_range": (0.1e6, 0.5e6),
        "sensing_rate_per_s_range": (20.0, 100.0),
        "flops_per_step_range": (0.05e12, 0.2e12),
    },
    # edge-gpu with whole denoising steps (the rounding gap is measured against edge-gpu)
    "edge-gpu-integer": {"integer_steps": True},
}


@SCENARIOS.register("iscc-slot")
class IsccSlot(Scenario):
    """Joint sensing / bandwidth / compute / generation-time allocation; see the module doc."""

    version = 1
    Params = IsccSlotParams
    presets = PRESETS
    utility_label = "weighted sensing + generation utility"

    @property
    def observation_dim(self) -> int:
        return 6 * self.params.num_users

    @property
    def action_dim(self) -> int:
        return 4 * self.params.num_users

    @property
    def decision_shape(self) -> tuple[int, ...]:
        return (self.params.num_users, 4)

    # ----------------------------------------------------------------- sampling and checks
    def _draw(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        p, shape = self.params, (n, self.params.num_users)
        snr_low, snr_high = p.snr_per_hz_log10_range
        return {
            "payload_bits": rng.uniform(*p.payload_bits_range, shape),
            "snr_per_hz": 10.0 ** rng.uniform(snr_low, snr_high, shape),
            "sensing_rate_per_s": rng.uniform(*p.sensing_rate_per_s_range, shape),
            "flops_per_step": rng.uniform(*p.flops_per_step_range, shape),
            "weight": rng.uniform(*p.weight_range, shape),
            "quality_slope": rng.uniform(*p.quality_slope_range, shape),
        }

    def _sample(self, n: int, rng: np.random.Generator) -> IsccSlotState:
        arrays = self._draw(n, rng)
        for _ in range(MAX_REDRAWS):
            bad = ~self._feasible(arrays)
            if not bad.any():
                return IsccSlotState(**arrays)
            fresh = self._draw(int(bad.sum()), rng)
            for name in FIELDS:
                arrays[name][bad] = fresh[name]
        raise InvalidConfigError(
            f"iscc-slot: {int(bad.sum())} of {n} instances stayed infeasible after "
            f"{MAX_REDRAWS} redraws: the payloads cannot be uploaded within deadline_s = "
            f"{self.params.deadline_s:g} s over bandwidth_hz = {self.params.bandwidth_hz:g} Hz "
            "(raise the bandwidth or the deadline, or lower the payloads or num_users)"
        )

    def _feasible(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        """``[n]``: the minimum bandwidths add up to less than ``B``."""
        need = min_bandwidth_hz(
            arrays["payload_bits"], arrays["snr_per_hz"], self.params.deadline_s
        )
        return need.sum(axis=1) < self.params.bandwidth_hz

    def state(self, **arrays: Any) -> IsccSlotState:
        """A validated state from the six ``[n, K]`` arrays (``[K]`` for one instance)."""
        missing = sorted(set(FIELDS) - set(arrays))
        if missing or set(arrays) - set(FIELDS):
            raise InvalidStateError(f"an iscc-slot state needs exactly {list(FIELDS)}")
        rows = {name: np.atleast_2d(real_array(arrays[name], name)) for name in FIELDS}
        state = IsccSlotState(**rows)
        self.validate_state(state)
        return state

    def validate_state(self, state: StateBatch) -> None:
        if not isinstance(state, IsccSlotState):
            raise InvalidStateError(f"expected an IsccSlotState, got {type(state).__name__}")
        shape = (None, self.params.num_users)
        first = real_array(state.payload_bits, "payload_bits", shape, positive=True)
        for name in FIELDS[1:]:
            real_array(getattr(state, name), name, first.shape, positive=True)
        need = min_bandwidth_hz(state.payload_bits, state.snr_per_hz, self.params.deadline_s)
        bad = ~(need.sum(axis=1) < self.params.bandwidth_hz)
        if bad.any():
            rows = np.flatnonzero(bad)
            raise InfeasibleSlotError(
                f"{rows.size} of {len(bad)} iscc-slot instances are infeasible (first: "
                f"{rows[:5].tolist()}): uploading every payload within {self.params.deadline_s:g}"
                f" s needs more than the bandwidth {self.params.bandwidth_hz:g} Hz",
                rows,
            )

    # ----------------------------------------------------------------- maths
    def _observe(self, state: IsccSlotState) -> np.ndarray:
        pairs = zip(FIELDS, OBS_SCALE, strict=True)
        blocks = [getattr(state, name) / scale for name, scale in pairs]
        return np.concatenate(blocks, axis=1).astype(np.float32)

    def _utility(self, state: IsccSlotState, decision: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return slot_utility(
                decision[..., 0],
                decision[..., 2],
                decision[..., 3],
                alpha=self.params.alpha,
                weight=state.weight,
                sensing_rate_per_s=state.sensing_rate_per_s,
                quality_slope=state.quality_slope,
                flops_per_step=state.flops_per_step,
            )

    def _is_feasible(self, state: IsccSlotState, decision: np.ndarray) -> np.ndarray:
        p = self.params
        sensing, bandwidth, compute, generation = np.moveaxis(decision, -1, 0)
        upload = state.payload_bits / uplink_rate_bps(np.maximum(bandwidth, 0.0), state.snr_per_hz)
        nonneg = np.all(decision >= 0, axis=(1, 2))
        on_time = np.all(sensing + upload + generation <= p.deadline_s * (1 + FEASIBILITY_TOL), 1)
        within_b = bandwidth.sum(axis=1) <= p.bandwidth_hz * (1 + FEASIBILITY_TOL)
        within_f = compute.sum(axis=1) <= p.compute_flops * (1 + FEASIBILITY_TOL)
        feasible = nonneg & on_time & within_b & within_f
        if p.integer_steps:
            feasible &= steps_are_whole(compute, generation, state.flops_per_step).all(axis=1)
        return feasible

    def whole_steps(self, state: IsccSlotState, decision: np.ndarray) -> np.ndarray:
        """``decision`` (``[n, K, 4]``) with each user's steps made whole; bandwidth and
        compute kept (:func:`gainnet.orchestration.integer_steps.whole_steps`)."""
        sensing, generation = whole_steps(
            decision[..., 0],
            decision[..., 2],
            decision[..., 3],
            alpha=self.params.alpha,
            sensing_rate_per_s=state.sensing_rate_per_s,
            quality_slope=state.quality_slope,
            flops_per_step=state.flops_per_step,
        )
        return np.stack([sensing, decision[..., 1], decision[..., 2], generation], axis=-1)

    @staticmethod
    def _weights(action: np.ndarray, floor: float) -> np.ndarray:
        """``max(a, floor)`` scaled so the largest is 1 (no overflow for huge actions)."""
        big = np.finfo(float).max
        weight = np.maximum(np.nan_to_num(action, nan=floor, posinf=big, neginf=floor), floor)
        return weight / weight.max(axis=-1, keepdims=True)

    def _decode(self, state: IsccSlotState, action: np.ndarray) -> np.ndarray:
        p, k = self.params, self.params.num_users
        a = action.reshape(len(action), k, 4)
        b_min = min_bandwidth_hz(state.payload_bits, state.snr_per_hz, p.deadline_s)
        spare = p.bandwidth_hz - b_min.sum(axis=1, keepdims=True)
        x = self._weights(a[..., 1], SHARE_FLOOR)
        bandwidth = b_min + spare * x / x.sum(axis=1, keepdims=True)
        y = self._weights(a[..., 2], SHARE_FLOOR)
        compute = p.compute_flops * y / y.sum(axis=1, keepdims=True)
        left = p.deadline_s - state.payload_bits / uplink_rate_bps(bandwidth, state.snr_per_hz)
        big = np.finfo(float).max
        sense = np.maximum(np.nan_to_num(a[..., 0], nan=0.0, posinf=big, neginf=0.0), 0.0)
        gen = np.maximum(np.nan_to_num(a[..., 3], nan=0.0, posinf=big, neginf=0.0), SHARE_FLOOR)
        top = np.maximum(sense, gen)
        sense, gen = sense / top, gen / top
        sensing = left * sense / (sense + gen)
        generation = left * gen / (sense + gen)
        decision = np.stack([sensing, bandwidth, compute, generation], axis=-1)
        return self.whole_steps(state, decision) if p.integer_steps else decision

    def _encode(self, state: IsccSlotState, decision: np.ndarray) -> np.ndarray:
        from scipy.special import wrightomega

        p = self.params
        sensing, bandwidth, compute, generation = np.moveaxis(decision, -1, 0)
        b_min = min_bandwidth_hz(state.payload_bits, state.snr_per_hz, p.deadline_s)
        excess = np.maximum(bandwidth - b_min, 0.0)
        a_b = np.divide(
            excess, excess.max(axis=1, keepdims=True), where=excess > 0, out=np.zeros_like(excess)
        )
        a_f = compute / np.maximum(compute.max(axis=1, keepdims=True), np.finfo(float).tiny)
        safe_g = np.maximum(generation, np.finfo(float).tiny)
        safe_s = np.maximum(sensing, np.finfo(float).tiny)
        a_tau = np.where(sensing <= generation, sensing / safe_g, 1.0)
        a_g = np.where(sensing <= generation, 1.0, generation / safe_s)
        # no sensing: the continuation (L - g*) / g* of the unconstrained split (< 0)
        level = np.log((1 - p.alpha) * state.quality_slope / p.alpha)
        unconstrained = wrightomega(level + state.sensing_rate_per_s * generation).real
        unconstrained = unconstrained / state.sensing_rate_per_s
        continuation = np.clip((generation - unconstrained) / unconstrained, -1.0, 0.0)
        a_tau = np.where(sensing > 0, a_tau, continuation)
        action = np.stack([a_tau, np.maximum(a_b, SHARE_FLOOR), a_f, a_g], axis=-1)
        return action.reshape(len(decision), -1)

    def default_expert(self):
        from gainnet.experts.iscc_kkt import IsccKkt

        return IsccKkt(self)

    # ----------------------------------------------------------------- differentiable maths
    def _state_from_observation(self, observation):
        import torch

        k = self.params.num_users
        blocks = observation.detach().double().reshape(len(observation), 6, k)
        scale = torch.tensor(OBS_SCALE, dtype=torch.float64)[None, :, None]
        return blocks * scale

    def decode_torch(self, observation, action):
        """:meth:`decode` in torch from the observation, flattened to ``[n, 4K]``; the
        floors' gradient passes through straight (a user below the floor can climb back)."""
        import torch

        p, k = self.params, self.params.num_users
        values = self._state_from_observation(observation)
        payload, rho = values[:, 0], values[:, 1]
        b_min = torch.from_numpy(min_bandwidth_hz(payload.numpy(), rho.numpy(), p.deadline_s))
        a = action.double().reshape(len(action), k, 4)

        def floored(raw, floor):
            hard = torch.clamp(raw, min=floor)
            soft = torch.clamp(raw, min=-1.0)
            return soft + (hard - soft).detach()

        x, y = floored(a[..., 1], SHARE_FLOOR), floored(a[..., 2], SHARE_FLOOR)
        spare = p.bandwidth_hz - b_min.sum(dim=1, keepdim=True)
        bandwidth = b_min + spare * x / x.sum(dim=1, keepdim=True)
        compute = p.compute_flops * y / y.sum(dim=1, keepdim=True)
        rate = bandwidth * torch.log2(1 + rho / bandwidth)
        left = p.deadline_s - payload / rate
        sense, gen = floored(a[..., 0], 0.0), floored(a[..., 3], SHARE_FLOOR)
        total = sense + gen
        sensing, generation = left * sense / total, left * gen / total
        if p.integer_steps:  # whole steps, with the continuous split's gradient (straight through)
            state = self._state_for_rounding(values)
            rounded = self.whole_steps(
                state,
                torch.stack([sensing, bandwidth, compute, generation], -1).detach().numpy(),
            )
            sensing = sensing + (torch.from_numpy(rounded[..., 0]) - sensing).detach()
            generation = generation + (torch.from_numpy(rounded[..., 3]) - generation).detach()
        decision = torch.stack([sensing, bandwidth, compute, generation], dim=-1)
        return decision.reshape(len(action), -1).to(action.dtype)

    @staticmethod
    def _state_for_rounding(values) -> IsccSlotState:
        """The fields :meth:`whole_steps` reads, from :meth:`_state_from_observation`."""
        arrays = {name: values[:, i].numpy() for i, name in enumerate(FIELDS)}
        return IsccSlotState(**arrays)

    def utility_torch(self, observation, decision):
        import torch

        p, k = self.params, self.params.num_users
        values = self._state_from_observation(observation).to(decision.dtype)
        gamma, flops, weight, beta = values[:, 2], values[:, 3], values[:, 4], values[:, 5]
        d = decision.reshape(len(decision), k, 4)
        sensing, compute, generation = d[..., 0], d[..., 2], d[..., 3]
        steps = (generation.double() * compute.double() / flops.double()).to(decision.dtype)
        value = p.alpha * (1 - torch.exp(-gamma * sensing)) + (1 - p.alpha) * beta * torch.log(
            steps
        )
        return (weight * value).sum(dim=1)
