"""Channel-generator settings are validated before Sionna is touched."""

from __future__ import annotations

import pytest

from gainnet.channels.config import ChannelConfig
from gainnet.channels.dataset import check_size
from gainnet.errors import InvalidConfigError


@pytest.mark.parametrize(
    "bad",
    [
        {"model": "cdl-f"},
        {"model": 3},
        {"carrier_frequency_hz": float("nan")},
        {"carrier_frequency_hz": -3.5e9},
        {"num_bs_antennas": 0},
        {"num_bs_antennas": 2.5},
        {"num_subcarriers": 10**6},
        {"delay_spread_s_range": (3e-7, 3e-8)},
        {"delay_spread_s_range": (-1e-9, 3e-8)},
        {"tdl_correlation": 1.0},
        {"indoor_probability": 1.5},
        {"num_ut_antennas": 16, "num_bs_antennas": 256, "num_subcarriers": 4096},
        {"num_subcarriers": 4096, "subcarrier_spacing_hz": 960e3, "carrier_frequency_hz": 1e9},
        {"num_cells": 0},
        {"num_cells": 65, "num_bs_antennas": 1},
        {"num_cells": 2.5, "num_bs_antennas": 1},
        {"num_cells": 4, "num_bs_antennas": 1, "model": "cdl-c"},
        {"num_cells": 4, "num_bs_antennas": 1, "model": "inh"},
        {"num_cells": 4},  # 32 base-station antennas: a network drop has single antennas
    ],
)
def test_bad_settings_are_refused(bad):
    with pytest.raises(InvalidConfigError):
        ChannelConfig(**bad)


def test_family_and_shape():
    assert ChannelConfig(model="cdl-c").family == "cdl"
    assert ChannelConfig(model="tdl-a").family == "tdl"
    assert ChannelConfig(model="inh", num_bs_antennas=8).shape == (1, 8, 256)
    network = ChannelConfig(model="uma", num_cells=5, num_bs_antennas=1, num_subcarriers=16)
    assert network.shape == (5, 5, 16)
    assert network.metadata_shapes["los"] == (5, 5)
    assert network.metadata_shapes["position_m"] == (5, 3)


@pytest.mark.parametrize("num, shard", [(0, 10), (10, 0), (True, 10), (1.5, 10), (10**7, 1000)])
def test_bad_sizes_are_refused(num, shard):
    with pytest.raises(InvalidConfigError):
        check_size(ChannelConfig(), num, shard)
