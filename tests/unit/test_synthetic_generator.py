"""Generators of gainnet.synthetic: shapes, seeds, checkpoints and bad input (tiny sizes)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from synthetic_data import channels as _channels
from synthetic_data import metadata as _metadata

from gainnet.errors import CheckpointError, InvalidConfigError, InvalidStateError
from gainnet.synthetic.conditions import conditions_from_metadata
from gainnet.synthetic.generator import ChannelGenerator, GeneratorConfig
from gainnet.synthetic.representation import ChannelShape

SHAPE = ChannelShape(num_bs_antennas=8, num_subcarriers=32, num_taps=4)


def _tiny(kind: str, seed: int = 0) -> tuple[ChannelGenerator, np.ndarray]:
    config = GeneratorConfig(
        kind=kind,
        hidden=32,
        blocks=1,
        steps=20,
        batch_size=16,
        num_train_timesteps=50,
        num_inference_steps=4,
        critic_steps=2,
    )
    generator = ChannelGenerator(config, SHAPE, num_scenarios=2, seed=seed)
    conditions = conditions_from_metadata(_metadata(60), 1, 2)
    generator.fit(_channels(60), conditions)
    return generator, conditions


@pytest.mark.parametrize("kind", ["diffusion", "gan"])
def test_fit_generate_shapes_and_seeds(kind):
    generator, conditions = _tiny(kind)
    assert len(generator.training["loss"]) == 10
    assert 1 <= generator.latent_dim < SHAPE.vector_dim
    h = generator.generate(conditions[:7], np.random.default_rng(3))
    assert h.shape == (7, 1, 8, 32) and h.dtype == np.complex64 and np.isfinite(h).all()
    again = generator.generate(conditions[:7], np.random.default_rng(3))
    np.testing.assert_array_equal(h, again)
    other, _ = _tiny(kind)
    np.testing.assert_array_equal(other.generate(conditions[:7], np.random.default_rng(3)), h)


@pytest.mark.parametrize("kind", ["diffusion", "gan"])
def test_save_load_round_trip(tmp_path, kind):
    generator, conditions = _tiny(kind)
    generator.save(tmp_path / "g")
    loaded = ChannelGenerator.load(tmp_path / "g")
    assert loaded.config == generator.config and loaded.latent_dim == generator.latent_dim
    np.testing.assert_array_equal(
        loaded.generate(conditions, np.random.default_rng(1)),
        generator.generate(conditions, np.random.default_rng(1)),
    )


def _corrupt_weights(root):
    data = bytearray((root / "weights.safetensors").read_bytes())
    data[-5] ^= 0xFF
    (root / "weights.safetensors").write_bytes(bytes(data))


def _resign(root):
    from gainnet.core.integrity import write_manifest

    write_manifest(root, ["generator.json", "weights.safetensors"])


def _wrong_latent(root):
    meta = json.loads((root / "generator.json").read_text())
    meta["latent_dim"] += 1
    (root / "generator.json").write_text(json.dumps(meta))
    _resign(root)


def _not_json(root):
    (root / "generator.json").write_text("{not json")
    _resign(root)


def _unknown_kind(root):
    meta = json.loads((root / "generator.json").read_text())
    meta["config"]["kind"] = "vae"
    (root / "generator.json").write_text(json.dumps(meta))
    _resign(root)


@pytest.mark.parametrize(
    "damage",
    [
        _corrupt_weights,
        _wrong_latent,
        _not_json,
        _unknown_kind,
        lambda root: (root / "SHA256SUMS").unlink(),
    ],
)
def test_damaged_checkpoints_are_refused(tmp_path, damage):
    generator, _ = _tiny("diffusion")
    root = generator.save(tmp_path / "g")
    damage(root)
    with pytest.raises(CheckpointError):
        ChannelGenerator.load(root)


def test_bad_input_is_refused():
    with pytest.raises(InvalidStateError, match="not trained"):
        ChannelGenerator(GeneratorConfig(), SHAPE).generate(
            np.zeros((1, 7)), np.random.default_rng()
        )
    generator, conditions = _tiny("diffusion")
    with pytest.raises(InvalidStateError):
        generator.generate(conditions[:, :-1], np.random.default_rng())
    with pytest.raises(InvalidStateError):
        generator.generate(np.full_like(conditions, np.nan), np.random.default_rng())
    with pytest.raises(InvalidStateError, match="conditions"):
        generator.fit(_channels(5), conditions)
    with pytest.raises(InvalidStateError, match="at least 2"):
        generator.fit(_channels(1), conditions[:1])
    with pytest.raises(InvalidConfigError):
        GeneratorConfig(kind="vae")
    with pytest.raises(InvalidConfigError):
        GeneratorConfig(num_inference_steps=20, num_train_timesteps=10)
    with pytest.raises(InvalidStateError):
        ChannelGenerator(GeneratorConfig(), SHAPE, num_scenarios=0)
