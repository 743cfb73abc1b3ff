"""Each site's wireless link and device: rates from the channel, times and energy of a round.

A round's SNR is the site's mean SNR plus Rayleigh block fading, ``10 log10(X)`` with
``X ~ Exp(1)`` drawn from the stream ``(seed, "link-<site>-<round>")``: it stays the same for
the whole round (query, downlink, training, uplink) and every engine draws the same one. The
rate is Shannon's, ``B log2(1 + SNR)``, and a transfer takes half a round trip plus its bits
over that rate, exactly as :class:`gainnet.split.link.Link` paces a split-inference request.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from gainnet.core.seeding import rng_for
from gainnet.federated.config import SiteSpec
from gainnet.split.link import MAX_BANDWIDTH_MBPS, MIN_BANDWIDTH_MBPS, Link


@dataclasses.dataclass(frozen=True)
class RoundLink:
    """A site's link and device in one round.

    Attributes
    ----------
    snr_db : float
        This round's uplink SNR, dB (downlink: plus the site's ``downlink_gain_db``).
    uplink, downlink : Link
        The emulated links (rate in Mbit/s, round-trip time).
    compute_steps_per_s, compute_power_w, tx_power_w : float
        The site's device (see :class:`~gainnet.federated.config.SiteSpec`).
    """

    snr_db: float
    uplink: Link
    downlink: Link
    compute_steps_per_s: float
    compute_power_w: float
    tx_power_w: float

    def downlink_s(self, num_bytes: int) -> float:
        """Seconds for the server's ``num_bytes`` to reach the site (one way)."""
        return self.downlink.one_way_s + self.downlink.transfer_s(num_bytes)

    def uplink_s(self, num_bytes: int) -> float:
        """Seconds for the site's ``num_bytes`` to reach the server (one way)."""
        return self.uplink.one_way_s + self.uplink.transfer_s(num_bytes)

    def compute_s(self, steps: int) -> float:
        """Emulated seconds of ``steps`` local optimiser steps on this device."""
        return steps / self.compute_steps_per_s

    def round_s(self, down_bytes: int, steps: int, up_bytes: int) -> float:
        """Download, train, upload: the site's part of a round, seconds."""
        return self.downlink_s(down_bytes) + self.compute_s(steps) + self.uplink_s(up_bytes)

    def energy_j(self, steps: int, up_bytes: int) -> float:
        """Device energy of a round: training plus transmitting the update, joules."""
        return self.compute_power_w * self.compute_s(steps) + self.tx_power_w * (
            self.uplink.transfer_s(up_bytes)
        )


def shannon_mbps(bandwidth_mhz: float, snr_db: float) -> float:
    """``B log2(1 + SNR)`` in Mbit/s, kept inside the range a :class:`Link` accepts."""
    snr_db = float(np.clip(snr_db, -300.0, 300.0))
    rate = bandwidth_mhz * float(np.log2(1.0 + 10.0 ** (snr_db / 10.0)))
    return float(np.clip(rate, MIN_BANDWIDTH_MBPS, MAX_BANDWIDTH_MBPS))


def round_link(site: SiteSpec, site_index: int, round_index: int, seed: int) -> RoundLink:
    """The link of site ``site_index`` in round ``round_index`` (1-based) of a federation."""
    fading = rng_for(seed, f"link-{site_index}-{round_index}").exponential()
    snr_db = site.mean_snr_db + 10.0 * float(np.log10(max(fading, 1e-12)))
    up = shannon_mbps(site.bandwidth_mhz, snr_db)
    down = shannon_mbps(site.bandwidth_mhz, snr_db + site.downlink_gain_db)
    return RoundLink(
        snr_db=snr_db,
        uplink=Link(up, site.rtt_ms),
        downlink=Link(down, site.rtt_ms),
        compute_steps_per_s=site.compute_steps_per_s,
        compute_power_w=site.compute_power_w,
        tx_power_w=site.tx_power_w,
    )
