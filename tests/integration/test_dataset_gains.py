"""``power-allocation`` drawing its gains from a generated 3GPP dataset (tiny, Sionna-backed)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sionna.phy", reason="needs the channels extra (make test installs it)")

import gainnet
from gainnet.channels import ChannelConfig, generate_dataset
from gainnet.channels.gains import block_gains, link_gains
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


def test_link_gains_hand_values():
    h = np.zeros((1, 2, 2, 2), complex)
    h[0, 0, 0] = [1.0, 3.0]  # user 0 from site 0: mean of 1 and 9
    h[0, 1, 0] = [2.0j, 0.0]  # user 1 from site 0: mean of 4 and 0
    np.testing.assert_allclose(link_gains(h), [[[5.0, 0.0], [2.0, 0.0]]])
    with pytest.raises(InvalidConfigError):
        link_gains(np.zeros((1, 2, 3, 4)))


def test_interference_from_umi_network_drops(tmp_path):
    """Every user-to-site link of a 3-site UMi drop: each user hears its own site best on
    average, the instances are the dataset's drops, and WMMSE beats full power on them."""
    config = ChannelConfig(model="umi", num_cells=3, num_bs_antennas=1, num_subcarriers=12)
    dataset = generate_dataset(config, 40, tmp_path / "net", seed=0, shard_size=20)
    assert dataset.h.shape == (40, 3, 3, 12)
    assert dataset.metadata["los"].shape == (40, 3, 3)
    assert dataset.metadata["position_m"].shape == (40, 3, 3)
    table = link_gains(dataset.h)
    own = np.log10(table[:, [0, 1, 2], [0, 1, 2]]).mean()
    assert own > np.log10(table[:, 0, 1]).mean() + 1.0  # at least 10 dB above, on average
    scenario = gainnet.make_scenario(
        "interference", preset="geometric-10", num_users=3, channel_dataset=str(tmp_path / "net")
    )
    state = scenario.sample(30, gainnet.rng_for(0, "eval"))
    matches = np.isclose(state.gains[:, None], table[None], rtol=1e-9).all(axis=(2, 3))
    assert matches.any(axis=1).all()
    decision = scenario.default_expert().solve(state)
    full = scenario.max_power(state)
    assert np.all(scenario.utility(state, decision) >= scenario.utility(state, full) - 1e-9)
    with pytest.raises(InvalidConfigError, match="3-site drops, not 4"):
        gainnet.make_scenario("interference", num_users=4, channel_dataset=str(tmp_path / "net"))
    with pytest.raises(InvalidConfigError, match="network drops"):
        gainnet.make_scenario(
            "power-allocation", num_channels=2, channel_dataset=str(tmp_path / "net")
        )
