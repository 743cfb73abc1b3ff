"""Channels drawn by Sionna 2.x (``sionna-no-rt``, PyTorch): the one place gainnet imports it.

:func:`generate_shard` returns ``n`` channels of a :class:`~gainnet.channels.config.ChannelConfig`
and their metadata as NumPy arrays. It is deterministic in ``seed``: Sionna's generators are
seeded from it and gainnet's own draws (delay spreads, orientations, indoor positions) come from
a stream of it. Sionna's seeding also reseeds torch's global generator; that state is saved and
restored around the call, so the caller's torch random stream is untouched.

Sionna is an optional extra (``pip install 'gainnet[channels]'``); without it this module raises
a :class:`~gainnet.errors.GainnetError` saying so.
"""

from __future__ import annotations

import contextlib

import numpy as np

from gainnet.channels.config import INTER_SITE_DISTANCE_M, ChannelConfig
from gainnet.core.seeding import int_seed_for, rng_for
from gainnet.errors import GainnetError

#: sum-of-sinusoids terms per TDL tap (Sionna's default is 20): with 64 the taps' kurtosis is
#: 2 - 1/64, within 1 % of a circular Gaussian's 2, so a TDL dataset is Gaussian for its codecs
TDL_SINUSOIDS = 64
#: the reference delay spread the link-level models are drawn at before per-sample rescaling (s)
REFERENCE_DELAY_SPREAD_S = 100e-9
#: InH open office: hall of 120 m x 50 m, base station on the ceiling at 3 m, users at 1 m
HALL_M, CEILING_M, UT_HEIGHT_M = (120.0, 50.0), 3.0, 1.0


def _sionna():
    try:
        import sionna.phy
    except ImportError:
        raise GainnetError(
            "channel generation needs Sionna: pip install 'gainnet[channels]' "
            "(sionna-no-rt, installed by `make test`)"
        ) from None
    import sionna

    return sionna


@contextlib.contextmanager
def _seeded(seed: int):
    """Sionna's generators seeded with ``seed`` and torch's global state restored afterwards."""
    import torch

    sionna = _sionna()
    with torch.random.fork_rng(devices=[]):
        sionna.phy.config.seed = seed % (2**63)
        try:
            yield
        finally:
            sionna.phy.config.seed = None


def _arrays(config: ChannelConfig):
    from sionna.phy.channel.tr38901 import AntennaArray

    fc = config.carrier_frequency_hz
    bs = AntennaArray(
        num_rows=1,
        num_cols=config.num_bs_antennas,
        polarization="single",
        polarization_type="V",
        antenna_pattern="38.901",
        carrier_frequency=fc,
    )
    ut = AntennaArray(
        num_rows=1,
        num_cols=config.num_ut_antennas,
        polarization="single",
        polarization_type="V",
        antenna_pattern="omni",
        carrier_frequency=fc,
    )
    return bs, ut


def generate_shard(config: ChannelConfig, n: int, seed: int) -> dict[str, np.ndarray]:
    """``n`` channels and their metadata, a dict of NumPy arrays:

    - ``h``: ``[n, num_ut_antennas, num_bs_antennas, num_subcarriers]`` complex64;
    - ``position_m``: ``[n, 3]`` float32, the user relative to the base station (m; zeros for
      the link-level CDL / TDL models, which have no geometry);
    - ``los``: ``[n]`` uint8, 1 for a line-of-sight channel;
    - ``indoor``: ``[n]`` uint8, 1 for an indoor user;
    - ``delay_spread_s``: ``[n]`` float32, the RMS delay spread of the channel's paths (s);
    - ``path_gain_db``: ``[n]`` float32, ``10 log10`` of the mean ``|h|^2``.
    """
    _sionna()
    import torch
    from sionna.phy.channel import subcarrier_frequencies

    rng = rng_for(seed, "channels")
    with _seeded(int_seed_for(seed, "sionna")), torch.inference_mode():
        if config.num_cells > 1:
            return _network(config, n)
        draw = {"cdl": _cdl, "tdl": _tdl, "drop": _drop}[config.family]
        a, tau, meta = draw(config, n, rng)
        frequencies = subcarrier_frequencies(config.num_subcarriers, config.subcarrier_spacing_hz)
        h = frequency_response(frequencies, a, tau).numpy()
    power = np.mean(np.abs(h) ** 2, axis=(1, 2, 3))
    return {
        "h": h,
        "position_m": meta.get("position_m", np.zeros((n, 3))).astype(np.float32),
        "los": meta["los"].astype(np.uint8),
        "indoor": meta.get("indoor", np.zeros(n)).astype(np.uint8),
        "delay_spread_s": _rms_delay_spread(a, tau).astype(np.float32),
        "path_gain_db": (10 * np.log10(np.maximum(power, 1e-30))).astype(np.float32),
    }


def frequency_response(frequencies_hz, a, tau):
    """``H [n, ut, bs, subcarriers]`` complex64 of Sionna's single-link CIR ``a [n, 1, ut, 1,
    bs, paths, 1]``, ``tau [n, 1, 1, paths]`` (s): ``sum_p a_p exp(-j 2 pi f tau_p)``.

    What ``sionna.phy.channel.cir_to_ofdm_channel`` computes (the tests compare the two), as one
    batched matrix product: about 30x faster on one CPU thread at 32 antennas x 256 subcarriers.
    """
    import torch

    n, ut, bs, paths = a.shape[0], a.shape[2], a.shape[4], a.shape[5]
    gains = a[:, 0, :, 0, :, :, 0].reshape(n, ut * bs, paths)
    phase = -2 * np.pi * tau[:, 0, 0, :, None].double() * frequencies_hz.double()[None, None, :]
    steering = torch.polar(torch.ones_like(phase), phase).to(torch.complex64)  # [n, paths, K]
    return torch.bmm(gains, steering).reshape(n, ut, bs, -1)


def _delay_spreads(config: ChannelConfig, n: int, rng) -> np.ndarray:
    low, high = config.delay_spread_s_range
    return np.exp(rng.uniform(np.log(low), np.log(high), n))


def _cdl(config: ChannelConfig, n: int, rng):
    import torch
    from sionna.phy.channel.tr38901 import CDL

    bs, ut = _arrays(config)
    yaw = np.deg2rad(rng.uniform(-config.yaw_spread_deg, config.yaw_spread_deg, n))
    orientation = torch.zeros((n, 3))
    orientation[:, 0] = torch.from_numpy(yaw).float()
    letter = config.model[-1].upper()
    cdl = CDL(letter, delay_spread=REFERENCE_DELAY_SPREAD_S,
              carrier_frequency=config.carrier_frequency_hz, ut_array=ut, bs_array=bs,
              direction="downlink", bs_orientation=orientation)  # fmt: skip
    a, tau = cdl(batch_size=n, num_time_steps=1, sampling_frequency=1.0)
    scale = _delay_spreads(config, n, rng) / REFERENCE_DELAY_SPREAD_S
    tau = tau * torch.from_numpy(scale).to(tau.dtype)[:, None, None, None]
    return a, tau, {"los": np.full(n, letter in "DE")}


def _tdl(config: ChannelConfig, n: int, rng):
    import torch
    from sionna.phy.channel.tr38901 import TDL

    m = config.num_bs_antennas
    index = np.arange(m)
    correlation = config.tdl_correlation ** np.abs(index[:, None] - index[None, :])
    letter = config.model[-1].upper()
    tdl = TDL(letter, delay_spread=REFERENCE_DELAY_SPREAD_S,
              carrier_frequency=config.carrier_frequency_hz, num_sinusoids=TDL_SINUSOIDS,
              num_rx_ant=config.num_ut_antennas, num_tx_ant=m,
              tx_corr_mat=torch.from_numpy(correlation).to(torch.complex64))  # fmt: skip
    a, tau = tdl(batch_size=n, num_time_steps=1, sampling_frequency=1.0)
    scale = _delay_spreads(config, n, rng) / REFERENCE_DELAY_SPREAD_S
    tau = tau * torch.from_numpy(scale).to(tau.dtype)[:, None, None, None]
    return a, tau, {"los": np.full(n, letter in "DE")}


def _drop(config: ChannelConfig, n: int, rng):
    from sionna.phy.channel.tr38901 import InH, UMa, UMi
    from sionna.phy.channel.utils import gen_single_sector_topology

    bs, ut = _arrays(config)
    fc = config.carrier_frequency_hz
    if config.model == "inh":
        channel = InH(carrier_frequency=fc, ut_array=ut, bs_array=bs, direction="downlink")
        topology = _hall_topology(n, rng)
    else:
        model = UMi if config.model == "umi" else UMa
        channel = model(carrier_frequency=fc, o2i_model="low", ut_array=ut, bs_array=bs,
                        direction="downlink")  # fmt: skip
        topology = gen_single_sector_topology(
            batch_size=n,
            num_ut=1,
            scenario=config.model,
            indoor_probability=config.indoor_probability,
            min_ut_velocity=0.0,
            max_ut_velocity=0.0,
        )
    channel.set_topology(*topology)
    a, tau = channel(num_time_samples=1, sampling_frequency=1.0)
    ut_loc, bs_loc, indoor = topology[0], topology[1], topology[5]
    meta = {
        "position_m": (ut_loc - bs_loc)[:, 0].numpy(),
        "los": channel._scenario.los[:, 0, 0].numpy(),  # [batch, num_bs, num_ut]
        "indoor": indoor[:, 0].numpy(),
    }
    return a, tau, meta


def _network(config: ChannelConfig, n: int) -> dict[str, np.ndarray]:
    """``n`` network drops (see :mod:`gainnet.channels.config`): Sionna's single-sector drop
    made ``num_cells`` times per sample and each copy moved to its site of a square grid, then
    every user-to-site link drawn in one topology. ``h [n, users, sites, subcarriers]``."""
    import torch
    from sionna.phy.channel import subcarrier_frequencies
    from sionna.phy.channel.tr38901 import UMa, UMi
    from sionna.phy.channel.utils import gen_single_sector_topology

    k = config.num_cells
    bs, ut = _arrays(config)
    model = UMi if config.model == "umi" else UMa
    channel = model(carrier_frequency=config.carrier_frequency_hz, o2i_model="low", ut_array=ut,
                    bs_array=bs, direction="downlink")  # fmt: skip
    topology = gen_single_sector_topology(
        batch_size=n * k,
        num_ut=1,
        scenario=config.model,
        indoor_probability=config.indoor_probability,
        min_ut_velocity=0.0,
        max_ut_velocity=0.0,
    )
    side = int(np.ceil(np.sqrt(k)))
    sites = torch.zeros(k, 3)
    sites[:, 0] = torch.arange(k) % side * INTER_SITE_DISTANCE_M[config.model]
    sites[:, 1] = torch.arange(k) // side * INTER_SITE_DISTANCE_M[config.model]
    cells = [t.reshape(n, k, *t.shape[2:]) for t in topology]  # [n * k, 1, ...] -> [n, k, ...]
    ut_loc, bs_loc = cells[0] + sites, cells[1] + sites
    channel.set_topology(ut_loc, bs_loc, *cells[2:])
    a, tau = channel(num_time_samples=1, sampling_frequency=1.0)  # a [n, k, 1, k, 1, paths, 1]
    paths = a.shape[5]
    links_a = a[:, :, 0, :, 0].reshape(n * k * k, 1, 1, 1, 1, paths, 1)
    links_tau = tau.reshape(n * k * k, 1, 1, paths)
    frequencies = subcarrier_frequencies(config.num_subcarriers, config.subcarrier_spacing_hz)
    h = frequency_response(frequencies, links_a, links_tau).numpy().reshape(n, k, k, -1)
    power = np.mean(np.abs(h) ** 2, axis=3)
    return {
        "h": h,
        "position_m": (ut_loc - bs_loc).numpy().astype(np.float32),
        "los": channel._scenario.los.numpy().transpose(0, 2, 1).astype(np.uint8),  # [n, ut, bs]
        "indoor": cells[5].numpy().astype(np.uint8),
        "delay_spread_s": _rms_delay_spread(links_a, links_tau).reshape(n, k, k).astype(np.float32),
        "path_gain_db": (10 * np.log10(np.maximum(power, 1e-30))).astype(np.float32),
    }


def _hall_topology(n: int, rng):
    """Users uniform in the InH hall, the base station at the middle of one short wall's
    ceiling facing into the hall; static users (six tensors, as Sionna's topology helper)."""
    import torch

    length, width = HALL_M
    ut = np.stack(
        [
            rng.uniform(1.0, length, n),
            rng.uniform(-width / 2, width / 2, n),
            np.full(n, UT_HEIGHT_M),
        ],
        axis=1,
    )
    ut_loc = torch.from_numpy(ut).float()[:, None]
    bs_loc = torch.tensor([0.0, 0.0, CEILING_M]).expand(n, 1, 3).clone()
    ut_orientation = torch.from_numpy(rng.uniform(-np.pi, np.pi, (n, 1, 3))).float()
    ut_orientation[..., 1:] = 0.0
    bs_orientation = torch.zeros((n, 1, 3))
    velocity = torch.zeros((n, 1, 3))
    indoor = torch.ones((n, 1), dtype=torch.bool)
    return ut_loc, bs_loc, ut_orientation, bs_orientation, velocity, indoor


def _rms_delay_spread(a, tau) -> np.ndarray:
    """RMS delay spread (s) of each sample's power-delay profile, ``[n]``."""
    power = (a.abs() ** 2).sum(dim=(1, 2, 3, 4, 6)).double().numpy()  # [n, paths]
    delay = tau[:, 0, 0, :].double().numpy()  # [n, paths]
    total = np.maximum(power.sum(axis=1), 1e-300)
    mean = (power * delay).sum(axis=1) / total
    second = (power * delay**2).sum(axis=1) / total
    return np.sqrt(np.maximum(second - mean**2, 0.0))
