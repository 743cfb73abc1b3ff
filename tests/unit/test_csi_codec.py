"""The CsiNet-style codec at tiny size: it trains, its halves load apart, checkpoints round-trip
and corrupt or mismatched ones are refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gainnet.csi.learned import CodecConfig, LearnedCodec
from gainnet.csi.metrics import nmse_db
from gainnet.errors import CheckpointError, InvalidConfigError, InvalidStateError

TINY = CodecConfig(taps=8, antennas=8, latent=16, bits_per_value=4, batch_size=64)


def sparse_csi(rng, n):
    """Two paths per channel at random (delay tap, angle bin): unit-norm ``[n, 8, 8]``."""
    x = np.zeros((n, 8, 8), complex)
    for _ in range(2):
        tap, angle = rng.integers(0, 3, n), rng.integers(0, 8, n)
        x[np.arange(n), tap, angle] += rng.standard_normal(n) + 1j * rng.standard_normal(n)
    x = np.fft.fft(np.fft.ifft(x, axis=2), axis=2)  # keep the structure, complex values
    return x / np.linalg.norm(x.reshape(n, -1), axis=1)[:, None, None]


def test_training_lowers_the_loss_and_bits_are_counted():
    rng = np.random.default_rng(0)
    codec = LearnedCodec(TINY, seed=0)
    history = codec.fit(sparse_csi(rng, 500), epochs=3)
    assert len(history) == 3 and history[-1] < history[0]
    assert TINY.bits == 64  # 16 values x 4 bits


@pytest.mark.slow
def test_the_codec_beats_unquantised_pca_of_its_size_after_fixed_epochs():
    """A linear code of 16 real values (PCA, not even quantised) keeps a third of the energy of
    this 2-path data (NMSE about -1.8 dB); the non-linear codec's 16 values of 4 bits must do
    clearly better after 25 epochs."""
    rng = np.random.default_rng(0)
    train, test = sparse_csi(rng, 2000), sparse_csi(rng, 300)
    flat = train.reshape(len(train), -1)
    _, vectors = np.linalg.eigh(flat.T @ np.conj(flat))
    top = vectors[:, -TINY.latent // 2 :]  # 8 complex = 16 real values
    pca = (test.reshape(len(test), -1) @ np.conj(top)) @ top.T
    pca_db = nmse_db(test, pca.reshape(test.shape))
    codec = LearnedCodec(TINY, seed=0)
    codec.fit(train, epochs=25)
    learned_db = nmse_db(test, codec.decode(codec.encode(test)))
    assert pca_db > -2.5
    assert learned_db < pca_db - 2.0


def test_checkpoint_round_trip_and_halves(tmp_path):
    rng = np.random.default_rng(1)
    codec = LearnedCodec(TINY, seed=3)
    codec.fit(sparse_csi(rng, 200), epochs=1)
    x = sparse_csi(rng, 20)
    codec.save(tmp_path / "c")
    levels = LearnedCodec.load(tmp_path / "c", part="encoder").encode(x)
    np.testing.assert_array_equal(levels, codec.encode(x))
    decoded = LearnedCodec.load(tmp_path / "c", part="decoder").decode(levels)
    np.testing.assert_array_equal(decoded, codec.decode(levels))
    weights = tmp_path / "c" / "decoder.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0x01
    weights.write_bytes(bytes(data))
    assert LearnedCodec.load(tmp_path / "c", part="encoder")  # the device's half is intact
    with pytest.raises(CheckpointError, match="SHA-256"):
        LearnedCodec.load(tmp_path / "c")
    with pytest.raises(CheckpointError):
        LearnedCodec.load(tmp_path / "missing")


def test_a_checkpoint_of_another_shape_is_refused(tmp_path):
    LearnedCodec(TINY).save(tmp_path / "c")
    meta = json.loads((tmp_path / "c" / "codec.json").read_text())
    meta["config"]["latent"] = 32
    (tmp_path / "c" / "codec.json").write_text(json.dumps(meta))
    from gainnet.core.integrity import write_manifest

    write_manifest(tmp_path / "c", ["codec.json", "encoder.safetensors", "decoder.safetensors"])
    with pytest.raises(CheckpointError, match="does not hold this codec's tensors"):
        LearnedCodec.load(tmp_path / "c")


def test_bad_input_is_refused():
    codec = LearnedCodec(TINY)
    with pytest.raises(InvalidStateError):
        codec.encode(np.ones((2, 8, 8)))  # real
    with pytest.raises(InvalidStateError):
        codec.encode(np.ones((2, 8, 7), complex))
    with pytest.raises(InvalidStateError):
        codec.encode(np.full((2, 8, 8), np.nan, complex))
    with pytest.raises(InvalidStateError):
        codec.decode(np.full((2, 16), 16))  # 4 bits: levels 0..15
    with pytest.raises(InvalidStateError):
        codec.decode(np.zeros((2, 16)))  # floats are not levels
    with pytest.raises(InvalidConfigError):
        CodecConfig(codec="transformer")
    with pytest.raises(InvalidConfigError):
        CodecConfig(bits_per_value=0)
