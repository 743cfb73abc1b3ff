"""``power-allocation`` drawing its gains from a generated 3GPP dataset (tiny, Sionna-backed)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sionna.phy", reason="needs the channels extra (make test installs it)")

import gainnet
from gainnet.channels import ChannelConfig, generate_dataset
from gainnet.channels.gains import block_gains
from gainnet.errors import InvalidConfigError


def test_block_gains_hand_values():
    h = np.zeros((1, 1, 2, 4), complex)
    h[0, 0, :, :2] = 1.0  # subcarriers 0-1: ||h||^2 = 2; 2-3: 0
    h[0, 0, 0, 3] = 2.0  # subcarrier 3: 4
    np.testing.assert_allclose(block_gains(h, 2), [[2.0, 2.0]])
    np.testing.assert_allclose(block_gains(h, 4), [[2.0, 2.0, 0.0, 4.0]])


def test_power_allocation_over_resource_blocks_of_a_umi_dataset(tmp_path):
    config = ChannelConfig(model="umi", num_bs_antennas=4, num_subcarriers=24)
    dataset = generate_dataset(config, 30, tmp_path / "umi", seed=0, shard_size=30)
    scenario = gainnet.make_scenario(
        "power-allocation",
        num_channels=6,
        channel_dataset=str(tmp_path / "umi"),
        channel_gain_offset_db=100.0,
    )
    state = scenario.sample(50, gainnet.rng_for(0, "eval"))
    table = block_gains(dataset.h, 6) * 1e10
    # every drawn instance is one of the dataset's channels
    matches = np.isclose(state.gains[:, None, :], table[None], rtol=1e-9).all(axis=2)
    assert matches.any(axis=1).all()
    decision = scenario.default_expert().solve(state)
    assert scenario.is_feasible(state, decision).all()
    equal = np.full_like(decision, scenario.params.total_power_w / 6)
    assert np.all(scenario.utility(state, decision) >= scenario.utility(state, equal) - 1e-9)
    with pytest.raises(InvalidConfigError, match="channel_dataset"):
        gainnet.make_scenario("power-allocation", channel_dataset=str(tmp_path / "none"))
    with pytest.raises(InvalidConfigError, match="at least 25 subcarriers"):
        gainnet.make_scenario(
            "power-allocation", num_channels=25, channel_dataset=str(tmp_path / "umi")
        )
