"""The learned CSI codecs at tiny size: they train, their bits are counted, their halves load
apart, checkpoints round-trip and corrupt or mismatched ones are refused."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

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


@pytest.mark.parametrize("kind", ["csinet", "vae", "entropy"])
def test_training_lowers_the_loss_and_bits_are_counted(kind):
    rng = np.random.default_rng(0)
    config = dataclasses.replace(TINY, codec=kind)
    codec = LearnedCodec(config, seed=0)
    history = codec.fit(sparse_csi(rng, 500), epochs=8)
    assert len(history) == 8 and np.isfinite(history).all()
    if kind == "csinet":  # no rate term: the error alone falls (vae, entropy trade it for bits)
        assert history[-1] < history[0]
    assert codec.training["held_out"]["within_rate"]  # the codec kept spends its budget
    assert config.bits == 64  # 16 values x 4 bits (entropy: the mean it is trained to)
    symbols = codec.encode(sparse_csi(rng, 50))
    bits = codec.report_bits(symbols)
    assert symbols.shape == (50, 16) and bits.shape == (50,)
    if kind == "entropy":  # variable length, held near the target by the rate controller
        assert 0 < bits.mean() < 2 * config.bits and bits.std() > 0
    else:
        np.testing.assert_array_equal(bits, 64.0)


def logistic_cdf(v, loc, scale):
    return 1 / (1 + np.exp(-(v - loc) / scale))


def test_entropy_bits_are_the_code_length_of_its_density():
    """The bits of a report are -log2 of the probability its density gives each symbol, and the
    probabilities of all symbols of one value sum to 1 (a proper code)."""
    codec = LearnedCodec(dataclasses.replace(TINY, codec="entropy"), seed=0)
    with torch.no_grad():
        codec.code.location.copy_(torch.linspace(-0.4, 0.4, 16))
        codec.code.log_scale.copy_(torch.linspace(-2.0, 1.0, 16))
    symbols = np.arange(-60, 61)[:, None].repeat(16, axis=1)
    per_value = []
    for j in range(16):
        one = np.zeros((len(symbols), 16), np.int64)
        one[:, j] = symbols[:, j]
        per_value.append(codec.report_bits(one) - codec.report_bits(np.zeros((1, 16), np.int64)))
    # only value j changes: the difference is that value's -log2 P(s) + log2 P(0)
    for j in range(16):
        scale = float(np.exp(np.linspace(-2.0, 1.0, 16)[j]))
        loc = float(np.linspace(-0.4, 0.4, 16)[j])
        s = symbols[:, j] + loc  # the decoded values
        p = logistic_cdf(s + 0.5, loc, scale) - logistic_cdf(s - 0.5, loc, scale)
        p0 = logistic_cdf(loc + 0.5, loc, scale) - logistic_cdf(loc - 0.5, loc, scale)
        np.testing.assert_allclose(per_value[j], -np.log2(np.maximum(p, 1e-9)) + np.log2(p0),
                                   atol=1e-3)  # fmt: skip
        assert abs(p.sum() - 1) < 1e-6


def test_vae_cells_are_equiprobable_and_centroids_are_conditional_means():
    from gainnet.csi.latent_codes import gaussian_cells

    edges, centroids = gaussian_cells(16)
    z = np.random.default_rng(0).standard_normal(400_000)
    cell = np.searchsorted(edges[1:-1], z)
    counts = np.bincount(cell, minlength=16) / len(z)
    np.testing.assert_allclose(counts, 1 / 16, atol=0.002)
    means = np.array([z[cell == i].mean() for i in range(16)])
    np.testing.assert_allclose(means, centroids, atol=0.02)


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


@pytest.mark.parametrize("kind", ["csinet", "vae", "entropy"])
def test_checkpoint_round_trip_and_halves(tmp_path, kind):
    rng = np.random.default_rng(1)
    codec = LearnedCodec(dataclasses.replace(TINY, codec=kind), seed=3)
    codec.fit(sparse_csi(rng, 200), epochs=1)
    x = sparse_csi(rng, 20)
    codec.save(tmp_path / "c")
    levels = LearnedCodec.load(tmp_path / "c", part="encoder").encode(x)
    np.testing.assert_array_equal(levels, codec.encode(x))
    device = LearnedCodec.load(tmp_path / "c", part="decoder")
    np.testing.assert_array_equal(device.decode(levels), codec.decode(levels))
    np.testing.assert_array_equal(device.report_bits(levels), codec.report_bits(levels))
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
    with pytest.raises(InvalidStateError):
        codec.decode(np.zeros((0, 16), np.int64))
    entropy = LearnedCodec(dataclasses.replace(TINY, codec="entropy"))
    with pytest.raises(InvalidStateError):
        entropy.report_bits(np.full((1, 16), 10**6))  # beyond the largest symbol
    with pytest.raises(InvalidConfigError):
        CodecConfig(codec="transformer")
    with pytest.raises(InvalidConfigError):
        CodecConfig(bits_per_value=0)
