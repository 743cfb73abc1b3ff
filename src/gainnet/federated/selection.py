"""Client selection: which ``m`` of ``N`` sites train this round.

Every policy reads the sites' answers to the round's query (:class:`SiteReport`) and returns
site indices. Sites the audit excluded are never offered.

- ``all``: every site.
- ``random``: ``m`` uniformly, blind to links, devices and energy (FedAvg's default).
- ``deadline`` (FedCS, Nishio and Yonetani 2019): every site whose download, training and
  upload fit in ``round_deadline_s`` at this round's rates, fastest first (not capped at m).
- ``power-of-choice`` (Cho et al. 2022, the communication-free ``rpow-d`` variant): draw
  ``d = min(2m, N)`` candidates in proportion to their data, keep the ``m`` whose last
  reported local loss is highest (never-trained sites first).
- ``oort`` (Lai et al. 2021): statistical utility ``n_i * loss_i`` times a system penalty
  ``(T / t_i)^alpha`` when a site's last observed round time ``t_i`` exceeds the preferred
  duration ``T``; ``epsilon`` of the slots explore sites not yet tried.
- ``gainnet``: Oort's utility with what only a wireless-aware server knows: ``t_i`` is
  predicted from *this round's* channel (the SNR each site measured for the query) and its
  device, a site that would run out of energy this round is skipped, and a site whose data
  changed (drift) in the last ``fresh_rounds`` rounds has its utility doubled.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from gainnet.errors import GainnetError

#: Oort's and gainnet's system-penalty exponent and exploration share
ALPHA = 2.0
EPSILON = 0.2
#: rounds during which freshly drifted data doubles a site's utility (gainnet)
FRESH_ROUNDS = 3


#: report fields that must be > 0, and those that must be >= 0
POSITIVE_FIELDS = ("uplink_mbps", "downlink_mbps", "compute_steps_per_s")
NON_NEGATIVE_FIELDS = (
    "site",
    "num_examples",
    "rtt_ms",
    "compute_power_w",
    "tx_power_w",
    "rounds_trained",
    "last_round",
    "data_age_rounds",
)


@dataclasses.dataclass(frozen=True)
class SiteReport:
    """A site's answer to the query round (the fields of :meth:`Site.query`'s metrics)."""

    site: int
    num_examples: float
    snr_db: float
    uplink_mbps: float
    downlink_mbps: float
    rtt_ms: float
    compute_steps_per_s: float
    compute_power_w: float
    tx_power_w: float
    energy_left_j: float  # -1 = unlimited
    last_loss: float  # -1 = never trained
    rounds_trained: float
    last_round: float  # 0 = never trained
    data_age_rounds: float

    @classmethod
    def from_metrics(cls, metrics: dict[str, float]) -> SiteReport:
        values = {}
        for f in dataclasses.fields(cls):
            value = metrics.get(f.name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise GainnetError(f"site report field {f.name!r} is missing or not finite")
            if f.name in POSITIVE_FIELDS and value <= 0:
                raise GainnetError(f"site report field {f.name!r} must be > 0, got {value}")
            if f.name in NON_NEGATIVE_FIELDS and value < 0:
                raise GainnetError(f"site report field {f.name!r} must be >= 0, got {value}")
            values[f.name] = float(value)
        if values["site"] != int(values["site"]):
            raise GainnetError(f"site report: site must be an integer, got {values['site']}")
        values["site"] = int(values["site"])
        return cls(**values)

    def predicted_round_s(self, model_bytes: int, up_bytes: int, local_steps: int) -> float:
        """Download + local training + upload at this round's rates, seconds."""
        one_way = self.rtt_ms / 2000.0
        return (
            2 * one_way
            + model_bytes * 8 / (self.downlink_mbps * 1e6)
            + local_steps / self.compute_steps_per_s
            + up_bytes * 8 / (self.uplink_mbps * 1e6)
        )

    def predicted_energy_j(self, up_bytes: int, local_steps: int) -> float:
        return self.compute_power_w * local_steps / self.compute_steps_per_s + (
            self.tx_power_w * up_bytes * 8 / (self.uplink_mbps * 1e6)
        )


@dataclasses.dataclass(frozen=True)
class RoundContext:
    """What a policy knows besides the reports."""

    round_index: int
    clients_per_round: int
    model_bytes: int
    up_bytes: int
    local_steps: int
    deadline_s: float
    #: each site's last observed round time, seconds (absent if never selected)
    observed_round_s: dict[int, float]
    #: each site's mean predicted round time over every query so far, this round's included
    typical_round_s: dict[int, float] = dataclasses.field(default_factory=dict)


def select(
    policy: str, reports: list[SiteReport], context: RoundContext, rng: np.random.Generator
) -> list[int]:
    """Indices of the sites ``policy`` picks among ``reports`` (sorted ascending)."""
    if not reports:
        return []
    m = min(context.clients_per_round, len(reports))
    sites = np.array([r.site for r in reports])
    if policy == "all":
        chosen = list(sites)
    elif policy == "random":
        chosen = list(rng.choice(sites, m, replace=False))
    elif policy == "deadline":
        times = np.array([_predicted(r, context) for r in reports])
        order = np.argsort(times, kind="stable")
        chosen = [sites[i] for i in order if times[i] <= context.deadline_s]
    elif policy == "power-of-choice":
        chosen = _power_of_choice(reports, m, rng)
    elif policy == "oort":
        chosen = _oort(reports, context, rng)
    elif policy == "gainnet":
        chosen = _gainnet(reports, context)
    else:
        raise GainnetError(f"unknown selection policy {policy!r}")
    return sorted(int(i) for i in chosen)


def _predicted(report: SiteReport, context: RoundContext) -> float:
    return report.predicted_round_s(context.model_bytes, context.up_bytes, context.local_steps)


def _power_of_choice(reports: list[SiteReport], m: int, rng: np.random.Generator) -> list[int]:
    d = min(2 * m, len(reports))
    weight = np.array([r.num_examples for r in reports], dtype=float)
    candidates = rng.choice(len(reports), d, replace=False, p=weight / weight.sum())
    loss = np.array([_loss(reports[i]) for i in candidates])
    keep = candidates[np.argsort(-loss, kind="stable")[:m]]
    return [reports[i].site for i in keep]


def _loss(report: SiteReport) -> float:
    return math.inf if report.last_loss < 0 else report.last_loss


def _statistical_utility(reports: list[SiteReport], round_index: int) -> dict[int, float]:
    """Oort's statistical utility: ``n_i * loss_i`` (scaled so the largest is 1; untried
    sites get 1) plus the staleness bonus ``sqrt(0.1 ln(R) / L_i)``, ``L_i`` the last round
    the site trained in."""
    raw = {r.site: r.num_examples * max(r.last_loss, 0.0) for r in reports if r.rounds_trained}
    scale = max(raw.values(), default=0.0) or 1.0
    utility = {}
    for r in reports:
        value = raw[r.site] / scale if r.site in raw else 1.0
        if r.last_round > 0:
            value += math.sqrt(0.1 * math.log(max(round_index, 1)) / r.last_round)
        utility[r.site] = value
    return utility


def _oort(reports: list[SiteReport], context: RoundContext, rng: np.random.Generator) -> list[int]:
    """Oort: explore ``epsilon`` of the slots among untried sites (at random), exploit the rest
    by the statistical utility penalised by ``(T / t_i)^alpha`` beyond the preferred duration
    ``T``, ``t_i`` being the site's last observed round time."""
    m = min(context.clients_per_round, len(reports))
    tried = [r for r in reports if r.rounds_trained > 0]
    untried = [r for r in reports if r.rounds_trained == 0]
    explore = min(len(untried), max(m - len(tried), math.ceil(EPSILON * m)))
    chosen = [untried[i].site for i in rng.choice(len(untried), explore, replace=False)]
    if m > len(chosen) and tried:
        statistical = _statistical_utility(reports, context.round_index)
        utility = []
        for r in tried:
            duration = context.observed_round_s.get(r.site, _predicted(r, context))
            value = statistical[r.site]
            if duration > context.deadline_s:
                value *= (context.deadline_s / duration) ** ALPHA
            utility.append(value)
        order = np.argsort(-np.asarray(utility), kind="stable")[: m - len(chosen)]
        chosen += [tried[i].site for i in order]
    return chosen


def _gainnet(reports: list[SiteReport], context: RoundContext) -> list[int]:
    """gainnet: among the sites that can pay for the round, up to ``m`` that maximise the
    statistical utility per second of round. A site's utility is Oort's
    (:func:`_statistical_utility`), doubled for data that drifted in the last
    ``FRESH_ROUNDS`` rounds, times ``(typical_i / t_i)^alpha``, where ``t_i`` is its round
    time predicted from this round's channel and ``typical_i`` its mean over all queries
    (proportional-fair: a site is picked when its channel is good *for it*). The round lasts
    as long as its slowest site, so every candidate deadline ``T`` (a predicted ``t_i``) is
    tried, the ``m`` best sites finishing by ``T`` taken, and the set with the largest
    ``sum(utility) / T`` kept."""
    affordable = [
        r
        for r in reports
        if r.energy_left_j < 0
        or r.predicted_energy_j(context.up_bytes, context.local_steps) <= r.energy_left_j
    ]
    offered = affordable or list(reports)
    m = min(context.clients_per_round, len(offered))
    statistical = _statistical_utility(offered, context.round_index)
    times = np.array([_predicted(r, context) for r in offered])
    score = np.empty(len(offered))
    for k, r in enumerate(offered):
        value = statistical[r.site]
        drifted = r.data_age_rounds < context.round_index  # age counts from the drift
        if drifted and r.data_age_rounds < FRESH_ROUNDS:
            value *= 2.0
        typical = context.typical_round_s.get(r.site, times[k])
        score[k] = value * (typical / times[k]) ** ALPHA
    best, best_rate = [], -1.0
    for deadline in np.unique(times):
        fits = np.flatnonzero(times <= deadline)
        keep = fits[np.argsort(-score[fits], kind="stable")[:m]]
        rate = float(score[keep].sum()) / float(times[keep].max())
        if rate > best_rate:
            best, best_rate = list(keep), rate
    return [offered[i].site for i in best]
