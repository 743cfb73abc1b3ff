"""An edge site's side of the protocol, the same code under every engine.

A site answers two requests:

- **query** (cheap, every round, every site): its state for client selection (examples held,
  this round's SNR and link rates, device speed, energy left, the loss of its last training,
  the age of its data) and, when asked, the moments of its observations (round 1, for the
  federated normaliser) and the claimed labels at the indices the server audits;
- **train** (the selected sites): start from the global weights, take ``local_steps`` steps on
  its data (FedProx: with the proximal term), and return the (compressed) update with the
  round's emulated download/compute/upload times, energy and measured compute time.

What a site remembers between rounds (energy spent, last loss, rounds trained) lives in a
plain dict of floats that the engine keeps for it (under Flower, the node's ``Context.state``).
A misbehaving site runs the same code with its ``behaviour`` (see
:data:`gainnet.federated.config.ATTACKS`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gainnet.core.seeding import rng_for
from gainnet.federated import compression
from gainnet.federated.config import FederationConfig
from gainnet.federated.links import round_link
from gainnet.federated.task import Weights

#: what a site remembers, and its value before the first round
INITIAL_MEMORY = {
    "energy_used_j": 0.0,
    "last_loss": -1.0,
    "rounds_trained": 0.0,
    "last_round": 0.0,
}


def malicious_sites(config: FederationConfig) -> frozenset[int]:
    """The indices of the misbehaving sites (``num_malicious`` of them, chosen by the seed)."""
    n = config.num_malicious
    if n == 0:
        return frozenset()
    chosen = rng_for(config.seed, "malicious-sites").choice(len(config.sites), n, replace=False)
    return frozenset(int(i) for i in chosen)


def behaviour_of(config: FederationConfig, site_index: int) -> str:
    """``"honest"`` or the configured attack for this site."""
    return config.attack if site_index in malicious_sites(config) else "honest"


class Site:
    """Site ``index`` of the federation whose model is ``task``."""

    def __init__(self, task, index: int) -> None:
        self.task, self.index = task, index
        self.config = task.config
        self.spec = self.config.sites[index]
        self.behaviour = behaviour_of(self.config, index)
        fabricates = self.behaviour in ("wrong-labels", "made-up-states")
        self._data_behaviour = self.behaviour if fabricates else "honest"

    def data(self, round_index: int):
        return self.task.site_data(self.index, round_index, self._data_behaviour)

    def energy_left_j(self, memory: dict[str, float]) -> float:
        """Energy left, joules (``inf`` without a budget)."""
        budget = self.spec.energy_budget_j
        return math.inf if budget <= 0 else budget - memory["energy_used_j"]

    # ----------------------------------------------------------------- query
    def query(
        self,
        round_index: int,
        memory: dict[str, float],
        want_moments: bool = False,
        audit_indices: list[int] | None = None,
    ) -> tuple[dict[str, float], dict[str, Any], dict[str, np.ndarray]]:
        """``(metrics, lists, arrays)``: the selection state, the observation moments (if
        asked) and the audited ``state.<field>`` and ``decision`` rows (if asked)."""
        link = round_link(self.spec, self.index, round_index, self.config.seed)
        data = self.data(round_index)
        _, version = self.task.conditions(self.spec, round_index)
        age = round_index - self.spec.drift_round if version else round_index
        energy = self.energy_left_j(memory)
        metrics = {
            "site": float(self.index),
            "num_examples": float(data.num_examples),
            "snr_db": link.snr_db,
            "uplink_mbps": float(link.uplink.bandwidth_mbps),
            "downlink_mbps": float(link.downlink.bandwidth_mbps),
            "rtt_ms": self.spec.rtt_ms,
            "compute_steps_per_s": self.spec.compute_steps_per_s,
            "compute_power_w": self.spec.compute_power_w,
            "tx_power_w": self.spec.tx_power_w,
            "energy_left_j": -1.0 if math.isinf(energy) else energy,
            "last_loss": memory["last_loss"],
            "rounds_trained": memory["rounds_trained"],
            "last_round": memory["last_round"],
            "data_age_rounds": float(age),
        }
        lists = self.task.observation_moments(data) if want_moments else {}
        arrays: dict[str, np.ndarray] = {}
        if audit_indices:
            index = np.asarray(audit_indices, dtype=np.int64) % len(data.state)
            claimed = data.state.take(index)
            for name, value in vars(claimed).items():
                arrays[f"state.{name}"] = np.asarray(value)
            arrays["decision"] = np.asarray(data.decision[index])
        return metrics, lists, arrays

    # ----------------------------------------------------------------- train
    def train(
        self,
        round_index: int,
        weights: Weights,
        memory: dict[str, float],
        proximal_mu: float,
    ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """``(payload, metrics)`` of one round of local training from the global ``weights``;
        ``memory`` is updated in place. A site without the energy for the round declines it
        (an empty payload, ``declined = 1``)."""
        cfg = self.config
        link = round_link(self.spec, self.index, round_index, cfg.seed)
        down_bytes = compression.payload_bytes(weights)
        expected_up = compression.expected_bytes(weights, cfg.compression, cfg.top_k_fraction)
        need_j = link.energy_j(cfg.local_steps, expected_up)
        if need_j > self.energy_left_j(memory):
            return {}, {"site": float(self.index), "declined": 1.0, "num_examples": 0.0}
        data = self.data(round_index)
        new, loss, measured_s = self.task.local_train(
            weights,
            data,
            cfg.local_steps,
            self.task.round_learning_rate(round_index),
            proximal_mu,
            f"site-train-{self.index}-{round_index}",
        )
        new = self._attack(new, weights)
        payload = compression.encode(new, weights, cfg.compression, cfg.top_k_fraction)
        up_bytes = compression.payload_bytes(payload)
        energy = link.energy_j(cfg.local_steps, up_bytes)
        memory["energy_used_j"] += energy
        memory["last_loss"] = loss
        memory["rounds_trained"] += 1.0
        memory["last_round"] = float(round_index)
        metrics = {
            "site": float(self.index),
            "declined": 0.0,
            "num_examples": float(data.num_examples),
            "loss": loss,
            "measured_compute_s": measured_s,
            "downlink_s": link.downlink_s(down_bytes),
            "compute_s": link.compute_s(cfg.local_steps),
            "uplink_s": link.uplink_s(up_bytes),
            "round_s": link.round_s(down_bytes, cfg.local_steps, up_bytes),
            "down_bytes": float(down_bytes),
            "up_bytes": float(up_bytes),
            "energy_j": energy,
        }
        return payload, metrics

    def _attack(self, new: Weights, reference: Weights) -> Weights:
        """A poisoning site's update: ``reference + s * (new - reference)``, ``s`` =
        ``attack_scale`` (scaled) or ``-attack_scale`` (sign flip); others pass ``new``."""
        if self.behaviour not in ("scaled-update", "sign-flip"):
            return new
        s = self.config.attack_scale * (1 if self.behaviour == "scaled-update" else -1)
        return {
            k: (reference[k] + s * (new[k] - reference[k])).astype(np.float32) for k in reference
        }
