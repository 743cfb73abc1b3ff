"""What a federation is: its sites (conditions, link, device) and how it trains.

Every field is a TOML key of ``gainnet federated run CONFIG`` (sites are ``[[sites]]``
tables); :func:`load_federation_config` reads one, :func:`default_sites` builds the non-IID
catalogue the case study uses.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Literal

from gainnet.core.registry import build_params, params_to_dict
from gainnet.core.toml_file import read_toml
from gainnet.core.validation import Validated, setting
from gainnet.errors import InvalidConfigError

#: the most sites, rounds, local steps and labels one federation may ask for
MAX_SITES = 1000
MAX_ROUNDS = 100_000
MAX_LOCAL_STEPS = 1_000_000
MAX_SITE_LABELS = 1_000_000

SELECTIONS = ("all", "random", "deadline", "power-of-choice", "oort", "gainnet")
AGGREGATORS = ("mean", "median", "trimmed-mean", "krum", "multi-krum")
ATTACKS = ("wrong-labels", "made-up-states", "scaled-update", "sign-flip")
COMPRESSIONS = ("none", "int8", "top-k")


@dataclasses.dataclass(frozen=True)
class SiteSpec(Validated):
    """One edge site: the conditions its data come from, its wireless link and its device.

    Attributes
    ----------
    name : str
        A label for reports.
    params : dict
        Scenario parameters of this site's conditions (over the federation's ``scenario_params``):
        different gain ranges are different channel statistics and user mixes, so sites are
        non-IID by construction.
    num_labels : int
        Expert-labelled instances the site holds.
    mean_snr_db : float
        Mean SNR of the site's link to the server, dB; each round's SNR adds Rayleigh block
        fading (``10 log10`` of an Exp(1) draw), the same for uplink and downlink.
    downlink_gain_db : float
        Downlink SNR over the uplink's, dB (the base station transmits with more power).
    bandwidth_mhz : float
        Bandwidth of the link, MHz; its rate is ``bandwidth * log2(1 + SNR)``, as in the split
        inference link model (:class:`gainnet.split.link.Link`).
    rtt_ms : float
        Round-trip time, ms.
    compute_steps_per_s : float
        Local training speed of the site's device (optimiser steps per second), for the
        emulated compute time; the measured time is reported beside it.
    compute_power_w, tx_power_w : float
        Device power while training and while transmitting, watts (energy = power x time).
    energy_budget_j : float
        Energy the site may spend on the federation, joules (0 = unlimited); a site without
        enough energy left for a round declines it.
    drift_round : int
        Round from which the site's conditions change to ``drift_params`` and its data is
        relabelled (0 = never): its data is fresh from then on.
    drift_params : dict
        Scenario parameters after the drift.
    """

    name: str = "site"
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    num_labels: int = setting(1000, low=2, high=MAX_SITE_LABELS)
    mean_snr_db: float = setting(15.0, low=-30, high=60)
    downlink_gain_db: float = setting(10.0, low=-30, high=60)
    bandwidth_mhz: float = setting(1.0, gt=0, high=1000)
    rtt_ms: float = setting(20.0, low=0, high=10_000)
    compute_steps_per_s: float = setting(100.0, gt=0, high=1e7)
    compute_power_w: float = setting(2.0, low=0, high=1e4)
    tx_power_w: float = setting(0.2, low=0, high=1e4)
    energy_budget_j: float = setting(0.0, low=0, high=1e12)
    drift_round: int = setting(0, low=0, high=MAX_ROUNDS)
    drift_params: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class FederationConfig(Validated):
    """How a federation trains (every field a TOML key; sites are ``[[sites]]`` tables).

    Attributes
    ----------
    sites : tuple of SiteSpec
    task : "solver" or "csi-codec"
        What is trained: ``solver`` (a diffusion solver on ``scenario``) or ``csi-codec`` (a
        CsiNet CSI feedback codec, :mod:`gainnet.federated.csi_task`: every site's ``params``
        name its ``channel_dataset``, ``solver_params`` are the codec's settings).
    scenario, scenario_params : str, dict
        The registered scenario and the parameters every site shares (a site's ``params``
        override them).
    solver, solver_params : str, dict
        An imitation-trained diffusion solver (``gdm``) and its hyper-parameters.
    rounds : int
        Federated rounds.
    local_steps : int
        Optimiser steps each selected site takes per round (Adam, restarted every round).
    learning_rate, final_lr_fraction : float
        Local step size in round 1, decaying with a cosine over the rounds to
        ``learning_rate * final_lr_fraction``.
    algorithm : "fedavg" or "fedprox"
        FedProx adds ``(proximal_mu / 2) ||w - w_global||^2`` to every site's loss.
    proximal_mu : float
    clients_per_round : int
        m, the sites trained per round (``deadline`` takes as many as meet the deadline).
    selection : str
        ``all``, ``random``, ``deadline`` (FedCS), ``power-of-choice`` (rpow-d),
        ``oort`` or ``gainnet`` (:mod:`gainnet.federated.selection`).
    round_deadline_s : float
        FedCS's deadline, and the preferred round duration of ``oort`` and ``gainnet``.
    aggregator : str
        ``mean`` (weighted by examples), ``median``, ``trimmed-mean``, ``krum``,
        ``multi-krum`` (Flower's built-ins under the Flower engine).
    trim_fraction : float
        Fraction cut at each end by ``trimmed-mean``, in [0, 0.5).
    krum_assumed_malicious : int
        f of Krum / multi-Krum (multi-Krum keeps ``m - f`` updates).
    audit, audit_samples, audit_tolerance
        Spot-check ``audit_samples`` of each site's claimed labels with the exact expert the
        first round it answers; a site with any label whose utility falls more than
        ``audit_tolerance`` (relative) below the expert's is excluded for good.
    malicious_fraction, attack, attack_scale
        Share of sites that misbehave (chosen by the seed) and how: ``wrong-labels`` (random
        decisions as "expert" labels), ``made-up-states`` (invented states and labels that
        belong to other states), ``scaled-update`` (update x ``attack_scale``), ``sign-flip``
        (update x ``-attack_scale``).
    compression, top_k_fraction
        Uplink update compression: ``int8`` (per-tensor scale) or ``top-k`` (the largest
        ``top_k_fraction`` of each tensor's entries, indices + values).
    eval_instances_per_site : int
        Held-out instances per site's conditions in the server's pooled test set.
    target_ratio : float
        Ratio to the expert at which ``seconds_to_target`` is read.
    seed : int
    """

    sites: tuple[SiteSpec, ...] = setting(max_items=MAX_SITES)
    task: Literal["solver", "csi-codec"] = "solver"
    scenario: str = "power-allocation"
    scenario_params: dict[str, Any] = dataclasses.field(default_factory=dict)
    solver: str = "gdm"
    solver_params: dict[str, Any] = dataclasses.field(default_factory=dict)
    rounds: int = setting(30, low=1, high=MAX_ROUNDS)
    local_steps: int = setting(50, low=1, high=MAX_LOCAL_STEPS)
    learning_rate: float = setting(2e-3, gt=0, high=1.0)
    final_lr_fraction: float = setting(0.05, low=0, high=1)
    algorithm: Literal["fedavg", "fedprox"] = "fedavg"
    proximal_mu: float = setting(0.01, low=0, high=1e4)
    clients_per_round: int = setting(5, low=1, high=MAX_SITES)
    selection: Literal[SELECTIONS] = "random"  # type: ignore[valid-type]
    round_deadline_s: float = setting(5.0, gt=0, high=1e6)
    aggregator: Literal[AGGREGATORS] = "mean"  # type: ignore[valid-type]
    trim_fraction: float = setting(0.2, low=0, lt=0.5)
    krum_assumed_malicious: int = setting(0, low=0, high=MAX_SITES)
    audit: bool = False
    audit_samples: int = setting(4, low=1, high=10_000)
    audit_tolerance: float = setting(1e-3, low=0, high=1)
    malicious_fraction: float = setting(0.0, low=0, high=1)
    attack: Literal[ATTACKS] = "wrong-labels"  # type: ignore[valid-type]
    attack_scale: float = setting(10.0, gt=0, high=1e6)
    compression: Literal[COMPRESSIONS] = "none"  # type: ignore[valid-type]
    top_k_fraction: float = setting(0.1, gt=0, high=1)
    eval_instances_per_site: int = setting(200, low=1, high=1_000_000)
    target_ratio: float = setting(0.95, gt=0, high=2)
    seed: int = setting(0, low=0, high=2**63 - 1)

    def check(self) -> None:
        if len(self.sites) < 2:
            raise InvalidConfigError("a federation needs at least 2 [[sites]]", "sites")
        if self.clients_per_round > len(self.sites):
            raise InvalidConfigError(
                f"clients_per_round ({self.clients_per_round}) exceeds the {len(self.sites)} sites",
                "clients_per_round",
                self.clients_per_round,
            )
        if self.task == "csi-codec":
            if self.audit:
                raise InvalidConfigError("a CSI codec has no expert labels to audit: audit=false")
            if self.attack == "wrong-labels" and self.malicious_fraction > 0:
                raise InvalidConfigError(
                    "a CSI codec's sites hold no labels: attack 'made-up-states', "
                    "'scaled-update' or 'sign-flip'"
                )
        for site in self.sites:
            if site.drift_round > self.rounds:
                raise InvalidConfigError(
                    f"site {site.name!r}: drift_round {site.drift_round} is after the last "
                    f"round ({self.rounds})"
                )
            if site.drift_round and not site.drift_params:
                raise InvalidConfigError(f"site {site.name!r}: drift_round needs drift_params")

    @property
    def num_malicious(self) -> int:
        """Sites that misbehave: ``round(malicious_fraction * N)``."""
        return math.floor(self.malicious_fraction * len(self.sites) + 0.5)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (:func:`federation_from_dict` inverts it)."""
        data = params_to_dict(self)
        data["sites"] = [params_to_dict(s) for s in self.sites]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def replace(self, **changes: Any) -> FederationConfig:
        return dataclasses.replace(self, **changes)


def federation_from_dict(data: Any, owner: str = "federation config") -> FederationConfig:
    """Build and validate a :class:`FederationConfig` from a TOML/JSON-shaped dict."""
    if not isinstance(data, dict):
        raise InvalidConfigError(f"{owner} must be a table, got {type(data).__name__}")
    data = dict(data)
    sites = data.pop("sites", None)
    if not isinstance(sites, list | tuple) or not sites:
        raise InvalidConfigError(f"{owner} needs [[sites]] tables (at least 2)")
    if len(sites) > MAX_SITES:
        raise InvalidConfigError(f"{owner} has {len(sites)} sites; at most {MAX_SITES}")
    built = tuple(
        build_params(SiteSpec, s, f"[[sites]] number {i} of {owner}")
        for i, s in enumerate(sites, 1)
    )
    return build_params(FederationConfig, {**data, "sites": built}, owner)


def load_federation_config(path: str | Path, **overrides: Any) -> FederationConfig:
    """Read a TOML federation config; unknown keys name the file and list the known ones."""
    data = read_toml(path, "federation config")
    data.update(overrides)
    return federation_from_dict(data, f"federation config {path}")


#: the non-IID site profiles of the case study (power-allocation, 10 channels, P/N0 = 3):
#: which channels are strong, and how strong, differs from site to site
SITE_PROFILES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("gdmopt", {"gain_low": [1.0] * 5 + [0.0] * 5, "gain_high": [2.0] * 5 + [1.0] * 5}),
    ("reversed", {"gain_low": [0.0] * 5 + [1.0] * 5, "gain_high": [1.0] * 5 + [2.0] * 5}),
    ("weak", {"gain_low": 0.05, "gain_high": 0.6}),
    ("strong", {"gain_low": 1.0, "gain_high": 3.0}),
    ("mixed", {"gain_low": 0.0, "gain_high": 2.0}),
)


def default_sites(num_sites: int = 10, num_labels: int = 1000, seed: int = 0) -> list[dict]:
    """``num_sites`` site tables cycling through :data:`SITE_PROFILES`, with links from
    0 to 25 dB mean SNR and devices from 20 to 200 steps/s spread by the seed."""
    from gainnet.core.seeding import rng_for

    rng = rng_for(seed, "federated-sites")
    sites = []
    for i in range(num_sites):
        profile, params = SITE_PROFILES[i % len(SITE_PROFILES)]
        sites.append(
            {
                "name": f"site{i}-{profile}",
                "params": params,
                "num_labels": num_labels,
                "mean_snr_db": float(rng.uniform(0.0, 25.0)),
                "compute_steps_per_s": float(10 ** rng.uniform(math.log10(20), math.log10(200))),
                "rtt_ms": float(rng.uniform(10.0, 50.0)),
            }
        )
    return sites
