"""Conditions, the LoS alignment and the channel vectors of gainnet.synthetic."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_data import channels as _channels
from synthetic_data import metadata as _metadata

from gainnet.errors import InvalidStateError
from gainnet.synthetic.conditions import (
    check_conditions,
    condition_dim,
    conditions_from_metadata,
    in_region,
)
from gainnet.synthetic.representation import (
    BORESIGHT_AZIMUTH_DEG,
    ChannelShape,
    align_to_user,
    los_spatial_frequency,
)


def test_conditions_columns_and_one_hot():
    meta = _metadata(5)
    c = conditions_from_metadata(meta, scenario=1, num_scenarios=3)
    assert c.shape == (5, condition_dim(3)) and c.dtype == np.float32
    np.testing.assert_allclose(c[:, :3], meta["position_m"])
    np.testing.assert_allclose(c[:, 3], np.log10(np.linalg.norm(meta["position_m"], axis=1)), 1e-6)
    np.testing.assert_array_equal(c[:, -3:], np.tile([0, 1, 0], (5, 1)))


@pytest.mark.parametrize(
    "bad",
    [np.zeros((3, 2)), np.full((2, 8), np.nan), np.zeros((0, 8)), np.array([["a"] * 8])],
)
def test_bad_conditions_are_refused(bad):
    with pytest.raises(InvalidStateError):
        check_conditions(bad, 8)


def test_network_metadata_and_bad_scenario_are_refused():
    with pytest.raises(InvalidStateError, match="single-link"):
        conditions_from_metadata({"position_m": np.zeros((2, 4, 3))}, 0, 1)
    with pytest.raises(InvalidStateError, match="scenario"):
        conditions_from_metadata(_metadata(2), 2, 2)


def test_regions_split_the_sector_by_azimuth():
    position = np.array([[1.0, 0.1, 0.0], [0.0, 1.0, 0.0], [-1.0, 1.0, 0.0]])
    np.testing.assert_array_equal(in_region(position, (0, 90)), [True, False, False])
    np.testing.assert_array_equal(in_region(position, (90, 180)), [False, True, True])


def test_a_line_of_sight_path_lands_on_broadside_after_alignment():
    antennas = 16
    position = np.array([[100.0, 100.0 * np.tan(np.radians(75.0)), 0.0]])  # azimuth 75 deg
    u = los_spatial_frequency(position)
    np.testing.assert_allclose(u, np.sin(np.radians(75.0 - BORESIGHT_AZIMUTH_DEG)))
    steer = np.exp(1j * np.pi * np.arange(antennas) * u[0])
    h = np.tile(steer[None, None, :, None], (1, 1, 1, 4)).astype(np.complex64)
    aligned = align_to_user(h, u)
    np.testing.assert_allclose(aligned, np.ones_like(aligned), atol=1e-5)
    np.testing.assert_allclose(align_to_user(aligned, u, inverse=True), h, atol=1e-5)


def test_vectors_round_trip_up_to_a_global_phase():
    shape = ChannelShape(num_bs_antennas=8, num_subcarriers=32, num_taps=4)
    h = _channels(20)
    v = shape.to_vectors(h)
    assert v.shape == (20, shape.vector_dim) and v.dtype == np.float32
    np.testing.assert_allclose(np.sum(v[:, :-1] ** 2, axis=1), 4 * 8, rtol=1e-4)
    back = shape.to_channels(v, np.random.default_rng(0))
    assert back.shape == h.shape and back.dtype == np.complex64
    # same channel up to one phase per sample (all paths lie within the 4 modelled taps)
    inner = np.sum(np.conj(back) * h, axis=(1, 2, 3))
    cosine = np.abs(inner) / (
        np.linalg.norm(back.reshape(20, -1), axis=1) * np.linalg.norm(h.reshape(20, -1), axis=1)
    )
    np.testing.assert_allclose(cosine, 1.0, atol=1e-4)
    np.testing.assert_allclose(
        np.linalg.norm(back.reshape(20, -1), axis=1),
        np.linalg.norm(h.reshape(20, -1), axis=1),
        rtol=1e-3,
    )


def test_bad_channels_and_shapes_are_refused():
    shape = ChannelShape(8, 32, 4)
    with pytest.raises(InvalidStateError):
        shape.to_vectors(np.zeros((2, 1, 8, 32), dtype=np.complex64))  # all zero
    with pytest.raises(InvalidStateError):
        shape.to_vectors(np.ones((2, 2, 8, 32), dtype=np.complex64))  # two user antennas
    with pytest.raises(InvalidStateError):
        shape.to_vectors(np.ones((2, 1, 8, 32)))  # real
    with pytest.raises(InvalidStateError):
        shape.to_channels(np.full((2, shape.vector_dim), np.nan), np.random.default_rng(0))
    with pytest.raises(InvalidStateError):
        ChannelShape(8, 32, 64)
    with pytest.raises(InvalidStateError):
        ChannelShape(True, 32, 4)
