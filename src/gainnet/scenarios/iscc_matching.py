"""``iscc-matching``: GAI requests matched to edge nodes, models and quality levels.

GainNet's resource pools and resource-model matching (the maths is in
:mod:`gainnet.orchestration.matching`): ``R`` requests of three service types (summarisation
by an LLM, image generation by a diffusion model, vehicular sensing fusion) and ``S`` edge nodes,
each hosting some of the models and holding pools of bandwidth, compute and memory. A decision
gives every request a node and a quality level, or rejects it: ``[n, R, 2]``, columns node index
and level (both ``-1`` when rejected). The utility is the value of the served requests; an
admitted request meets its deadline by construction (its reservations upload and compute it in
time), so the deadline misses of a matching are its rejections.

Action encoding (``decode`` / ``encode``)
-----------------------------------------
An action is ``[R, 2 + S]`` per instance, flattened request by request: a priority, a level in
[0, 1] (scaled to ``0..Q-1``) and one score per node. Decoding takes the requests by
descending priority and gives each the allowed (node, level) that still fits with the highest
``node score - LEVEL_PENALTY |level - preferred level|``, or rejects it when nothing fits
(:func:`~gainnet.orchestration.matching.assign`): every action decodes to a feasible
matching, and every request that fits what is left is served. ``encode`` writes priority 1
for served requests (0 for rejected), the node's score 1 (others 0) and the level: decoding it
gives the matching back whenever the matching is maximal (no rejected request fits what is
left), which an optimum with positive values always is.

Observation: ``[n, R (12 + S) + 6 S]`` float32: per request its service (one-hot), deadline
(s), payload (Mbit), value, compute (100 TFLOP/s) and memory (GB) per level, and its bandwidth
to each node (100 MHz, 10 where no bandwidth is enough); per node its pools (100 MHz,
100 TFLOP/s, 100 GB) and the services it hosts.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from gainnet.core.arrays import real_array
from gainnet.core.registry import SCENARIOS
from gainnet.core.scenario import Scenario, StateBatch
from gainnet.core.validation import Validated, check_int_arg, check_ranges, range_setting, setting
from gainnet.errors import InvalidConfigError, InvalidDecisionError, InvalidStateError
from gainnet.orchestration.matching import (
    NUM_LEVELS,
    SERVICES,
    Demands,
    assign,
    demands,
    matching_value,
    usage,
)

#: how much a level away from the preferred one costs in node-score units
LEVEL_PENALTY = 0.5
#: relative slack of the pool checks
FEASIBILITY_TOL = 1e-9
MAX_REQUESTS = 2000
MAX_NODES = 64
#: observation units: 100 MHz, 100 TFLOP/s, 100 GB; a bandwidth no channel reaches shows as 10
BANDWIDTH_UNIT, COMPUTE_UNIT, MEMORY_UNIT, UNREACHABLE = 1e8, 1e14, 100.0, 10.0
FIELDS = (
    "service",
    "deadline_s",
    "payload_bits",
    "value",
    "snr_per_hz",
    "hosts",
    "bandwidth_hz",
    "compute_flops",
    "memory_gb",
)


def _per_service(default: tuple[float, ...], high: float) -> Any:
    return setting(default, gt=0.0, high=high, max_items=6)


@dataclasses.dataclass(frozen=True)
class IsccMatchingParams(Validated):
    """Parameters of ``iscc-matching``.

    Attributes
    ----------
    num_requests, num_nodes : int
        R (1..2000) and S (1..64).
    service_mix : (3,)
        Relative frequencies of summarisation, image generation and sensing fusion.
    deadline_s_ranges, payload_bits_ranges : (6,)
        Per service ``low, high`` pairs (s, bits), drawn uniformly.
    value_range : (low, high)
        A request's value at the top quality level.
    snr_per_hz_log10_range : (low, high)
        ``log10 rho`` (Hz) of each request's channel to each node, log-uniform.
    node_bandwidth_hz_range, node_compute_flops_range, node_memory_gb_range : (low, high)
        Each node's pools this slot (what its other tenants leave).
    host_probability : float
        The chance a node hosts a service's model (each node hosts at least one).
    upload_share : float
        The share of a deadline reserved for the upload; the rest is for computing.
    fade_margin_db : float
        Bandwidth is reserved for an SNR this much below the measured one.
    down_nodes : tuple of node indices
        Nodes that are down (failed or in maintenance): their pools are 0, so nobody is
        served there. Empty by default.
    """

    num_requests: int = setting(20, low=1, high=MAX_REQUESTS)
    num_nodes: int = setting(3, low=1, high=MAX_NODES)
    service_mix: tuple[float, ...] = setting((1.0, 1.0, 1.0), low=0.0, high=1e6, max_items=3)
    deadline_s_ranges: tuple[float, ...] = _per_service((1.0, 4.0, 2.0, 6.0, 0.05, 0.2), 3600.0)
    payload_bits_ranges: tuple[float, ...] = _per_service((0.1e6, 0.5e6, 1e4, 5e4, 1e6, 8e6), 1e12)
    value_range: tuple[float, ...] = range_setting((0.5, 2.0), high=1e6)
    snr_per_hz_log10_range: tuple[float, ...] = range_setting((7.0, 9.0), gt=-30.0, high=30.0)
    node_bandwidth_hz_range: tuple[float, ...] = range_setting((20e6, 100e6), gt=-1.0, high=1e12)
    node_compute_flops_range: tuple[float, ...] = range_setting(
        (100e12, 400e12), gt=-1.0, high=1e21
    )
    node_memory_gb_range: tuple[float, ...] = range_setting((24.0, 80.0), gt=-1.0, high=1e6)
    host_probability: float = setting(0.7, gt=0.0, high=1.0)
    upload_share: float = setting(0.5, gt=0.0, lt=1.0)
    fade_margin_db: float = setting(0.0, low=0.0, high=60.0)
    down_nodes: tuple[float, ...] = setting((), low=0, high=MAX_NODES - 1, max_items=MAX_NODES)

    def check(self) -> None:
        nodes = self.down_nodes
        if any(v != int(v) or v >= self.num_nodes for v in nodes) or len(set(nodes)) < len(nodes):
            raise InvalidConfigError(
                f"down_nodes must be distinct node indices 0..{self.num_nodes - 1}, got "
                f"{list(nodes)}",
                "down_nodes",
                nodes,
            )
        if len(self.service_mix) != len(SERVICES) or sum(self.service_mix) <= 0:
            raise InvalidConfigError(
                f"service_mix needs {len(SERVICES)} non-negative weights, not all 0, got "
                f"{list(self.service_mix)}",
                "service_mix",
                self.service_mix,
            )
        for name in ("deadline_s_ranges", "payload_bits_ranges"):
            pairs = getattr(self, name)
            if len(pairs) != 2 * len(SERVICES) or any(
                pairs[i + 1] < pairs[i] for i in range(0, len(pairs), 2)
            ):
                raise InvalidConfigError(
                    f"{name} must be {len(SERVICES)} low, high pairs (low <= high), got "
                    f"{list(pairs)}",
                    name,
                    pairs,
                )
        check_ranges(self)


@dataclasses.dataclass(frozen=True)
class IsccMatchingState(StateBatch):
    """A batch of slots.

    Attributes
    ----------
    service : ``[n, R]`` type index (0 summarisation, 1 image generation, 2 sensing fusion);
    deadline_s, payload_bits, value : ``[n, R]``; snr_per_hz : ``[n, R, S]`` (Hz);
    hosts : ``[n, S, 3]`` 0/1; bandwidth_hz, compute_flops, memory_gb : ``[n, S]`` pools
    (0 for a node that is down).
    """

    service: np.ndarray
    deadline_s: np.ndarray
    payload_bits: np.ndarray
    value: np.ndarray
    snr_per_hz: np.ndarray
    hosts: np.ndarray
    bandwidth_hz: np.ndarray
    compute_flops: np.ndarray
    memory_gb: np.ndarray

    def pools(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.bandwidth_hz, self.compute_flops, self.memory_gb


# Presets (docs/iscc.md explains each)
PRESETS: dict[str, dict[str, Any]] = {
    # 20 requests over 3 nodes: HiGHS proves the optimum in ~0.15 s per instance. The case
    # studies' sizes (60-100 requests) take HiGHS up to minutes and join with the case study.
    "small": {},
}


@SCENARIOS.register("iscc-matching")
class IsccMatching(Scenario):
    """Requests to (node, model, quality level) under resource pools; see the module doc."""

    version = 1
    Params = IsccMatchingParams
    presets = PRESETS
    utility_label = "value of the served requests"

    @property
    def observation_dim(self) -> int:
        p = self.params
        return p.num_requests * (12 + p.num_nodes) + 6 * p.num_nodes

    @property
    def action_dim(self) -> int:
        return self.params.num_requests * (2 + self.params.num_nodes)

    @property
    def decision_shape(self) -> tuple[int, ...]:
        return (self.params.num_requests, 2)

    # ----------------------------------------------------------------- sampling and checks
    def _sample(self, n: int, rng: np.random.Generator) -> IsccMatchingState:
        p = self.params
        r_count, s_count = p.num_requests, p.num_nodes
        mix = np.asarray(p.service_mix) / sum(p.service_mix)
        service = rng.choice(len(SERVICES), size=(n, r_count), p=mix)
        deadlines = np.asarray(p.deadline_s_ranges).reshape(-1, 2)[service]
        payloads = np.asarray(p.payload_bits_ranges).reshape(-1, 2)[service]
        hosts = rng.random((n, s_count, len(SERVICES))) < p.host_probability
        lonely = ~hosts.any(axis=2)
        hosts[lonely, rng.integers(0, len(SERVICES), int(lonely.sum()))] = True
        snr_low, snr_high = p.snr_per_hz_log10_range
        up = np.ones(s_count)
        up[np.asarray(p.down_nodes, dtype=int)] = 0.0
        return IsccMatchingState(
            service=service.astype(float),
            deadline_s=rng.uniform(deadlines[..., 0], deadlines[..., 1]),
            payload_bits=rng.uniform(payloads[..., 0], payloads[..., 1]),
            value=rng.uniform(*p.value_range, (n, r_count)),
            snr_per_hz=10.0 ** rng.uniform(snr_low, snr_high, (n, r_count, s_count)),
            hosts=hosts.astype(float),
            bandwidth_hz=up * rng.uniform(*p.node_bandwidth_hz_range, (n, s_count)),
            compute_flops=up * rng.uniform(*p.node_compute_flops_range, (n, s_count)),
            memory_gb=up * rng.uniform(*p.node_memory_gb_range, (n, s_count)),
        )

    def state(self, **arrays: Any) -> IsccMatchingState:
        """A validated state from its nine arrays (see :class:`IsccMatchingState`)."""
        if set(arrays) != set(FIELDS):
            raise InvalidStateError(f"an iscc-matching state needs exactly {list(FIELDS)}")
        state = IsccMatchingState(**{k: real_array(v, k) for k, v in arrays.items()})
        self.validate_state(state)
        return state

    def validate_state(self, state: StateBatch) -> None:
        if not isinstance(state, IsccMatchingState):
            raise InvalidStateError(f"expected an IsccMatchingState, got {type(state).__name__}")
        r_count, s_count = self.params.num_requests, self.params.num_nodes
        service = real_array(state.service, "service", (None, r_count), low=0.0)
        n = len(service)
        if np.any(service != np.round(service)) or np.any(service >= len(SERVICES)):
            raise InvalidStateError(f"service must hold type indices 0..{len(SERVICES) - 1}")
        for name in ("deadline_s", "payload_bits", "value"):
            real_array(getattr(state, name), name, (n, r_count), positive=True)
        real_array(state.snr_per_hz, "snr_per_hz", (n, r_count, s_count), positive=True)
        hosts = real_array(state.hosts, "hosts", (n, s_count, len(SERVICES)))
        if not np.isin(hosts, (0.0, 1.0)).all():
            raise InvalidStateError("hosts must be 0 or 1")
        for name in ("bandwidth_hz", "compute_flops", "memory_gb"):
            real_array(getattr(state, name), name, (n, s_count), low=0.0)

    def demands(self, state: IsccMatchingState) -> Demands:
        """What serving each (request, node, level) reserves and earns."""
        p = self.params
        return demands(
            state.service,
            state.deadline_s,
            state.payload_bits,
            state.value,
            state.snr_per_hz,
            state.hosts,
            upload_share=p.upload_share,
            fade_margin_db=p.fade_margin_db,
        )

    # ----------------------------------------------------------------- maths
    def _observe(self, state: IsccMatchingState) -> np.ndarray:
        need = self.demands(state)
        n = len(state)
        one_hot = np.eye(len(SERVICES))[state.service.astype(int)]
        bandwidth = np.minimum(need.bandwidth_hz / BANDWIDTH_UNIT, UNREACHABLE)
        requests = np.concatenate(
            [
                one_hot,
                state.deadline_s[..., None],
                state.payload_bits[..., None] / 1e6,
                state.value[..., None],
                need.compute_flops / COMPUTE_UNIT,
                need.memory_gb,
                bandwidth,
            ],
            axis=2,
        )
        nodes = np.concatenate(
            [
                state.bandwidth_hz[..., None] / BANDWIDTH_UNIT,
                state.compute_flops[..., None] / COMPUTE_UNIT,
                state.memory_gb[..., None] / MEMORY_UNIT,
                state.hosts,
            ],
            axis=2,
        )
        return np.concatenate([requests.reshape(n, -1), nodes.reshape(n, -1)], 1).astype(np.float32)

    def _utility(self, state: IsccMatchingState, decision: np.ndarray) -> np.ndarray:
        return matching_value(decision, self.demands(state))

    def _is_feasible(self, state: IsccMatchingState, decision: np.ndarray) -> np.ndarray:
        s_count = self.params.num_nodes
        node, level = decision[..., 0], decision[..., 1]
        served = node >= 0
        whole = np.all((node == np.round(node)) & (level == np.round(level)), axis=1)
        in_range = np.all(
            np.where(served, (node < s_count) & (level >= 0) & (level < NUM_LEVELS), level == -1)
            & (node >= -1),
            axis=1,
        )
        ok = whole & in_range
        safe = np.where(ok[:, None, None], decision, -1.0)
        need = self.demands(state)
        safe_node = np.where(safe[..., 0] >= 0, safe[..., 0], 0).astype(int)
        allowed = np.take_along_axis(need.allowed, safe_node[..., None], axis=2)[..., 0]
        ok &= np.all(allowed | (safe[..., 0] < 0), axis=1)
        for used, pool in zip(usage(safe, need, s_count), state.pools(), strict=True):
            ok &= np.all(used <= pool * (1 + FEASIBILITY_TOL), axis=1)
        return ok

    def _decode(self, state: IsccMatchingState, action: np.ndarray) -> np.ndarray:
        p = self.params
        a = np.nan_to_num(action, nan=0.0, posinf=1e300, neginf=-1e300)
        a = np.clip(a, -1e300, 1e300).reshape(len(action), p.num_requests, 2 + p.num_nodes)
        order = np.argsort(-a[..., 0], axis=1, kind="stable")
        preferred = np.clip(a[..., 1], 0.0, 1.0) * (NUM_LEVELS - 1)
        levels = np.arange(NUM_LEVELS)
        away = np.abs(levels[None, None, :] - preferred[..., None])  # [n, R, Q]
        node_score = np.clip(a[..., 2:], -1e6, 1e6)
        preference = node_score[..., None] - LEVEL_PENALTY * away[:, :, None, :]
        return assign(order, preference, self.demands(state), state.pools())

    def _encode(self, state: IsccMatchingState, decision: np.ndarray) -> np.ndarray:
        p = self.params
        n = len(decision)
        node, level = decision[..., 0].astype(int), decision[..., 1]
        served = node >= 0
        action = np.zeros((n, p.num_requests, 2 + p.num_nodes))
        action[..., 0] = served
        action[..., 1] = np.where(served, level / (NUM_LEVELS - 1), 0.5)
        one_hot = served[..., None] & (node[..., None] == np.arange(p.num_nodes))
        action[..., 2:] = one_hot
        return action.reshape(n, -1)

    def greedy(self, state: IsccMatchingState) -> np.ndarray:
        """The "value per resource" baseline: requests by descending value density (top-level
        value over its share of the pools of the best node for it), each to the highest-value
        (node, level) that still fits, the node it loads least among equal values."""
        self.validate_state(state)
        need = self.demands(state)
        scale = [pool[:, None, :, None] for pool in state.pools()]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # a node that is down
            share = (
                need.bandwidth_hz[..., None] / scale[0]
                + need.compute_flops[:, :, None, :] / scale[1]
                + need.memory_gb[:, :, None, :] / scale[2]
            )  # [n, R, S, Q]: the fraction of the node's pools one (request, level) reserves
            density = np.where(need.allowed[..., None], need.value[:, :, None, :] / share, -np.inf)
        density = np.nan_to_num(density, nan=-np.inf, posinf=1e300)
        order = np.argsort(-density.max(axis=(2, 3)), axis=1, kind="stable")
        # levels differ in value by >= 15 %: the tie-break (< 1e-6 relative) never reorders them
        tie_break = 1.0 - 1e-6 * np.minimum(np.nan_to_num(share, nan=3.0), 3.0) / 3.0
        preference = need.value[:, :, None, :] * tie_break
        return assign(order, preference, need, state.pools())

    def refine(self, state: IsccMatchingState, decision: np.ndarray, iterations: int) -> np.ndarray:
        """``iterations`` passes of the local search of :mod:`gainnet.orchestration.local_search`
        (best responses and make-room swaps) from a feasible ``decision``: the value never falls
        and the matching stays feasible. An infeasible ``decision`` is refused."""
        from gainnet.orchestration.local_search import improve

        self.validate_state(state)
        decision = self.check_decision(state, decision)
        iterations = check_int_arg(iterations, "refine iterations", 1, 1000)
        if not self.is_feasible(state, decision).all():
            raise InvalidDecisionError("refine needs a feasible matching (decode one first)")
        return improve(decision, self.demands(state), state.pools(), iterations)

    def default_expert(self):
        from gainnet.experts.iscc_milp import IsccMilp

        return IsccMilp(self)
