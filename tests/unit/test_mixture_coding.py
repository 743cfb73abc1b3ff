"""The mixture transform coder: it passes one KLT (and the pooled Gaussian limit) on a source
made of groups with different subspaces, and cannot pass the Gaussian limit on a Gaussian."""

from __future__ import annotations

import numpy as np
import pytest

from gainnet.csi.mixture_coding import MixtureCoder
from gainnet.csi.rate_distortion import covariance_eigenvalues, gaussian_nmse_db
from gainnet.csi.transform_coding import TransformCoder
from gainnet.errors import InvalidStateError

TAPS, ANTENNAS = 4, 8


def groups_source(rng, n):
    """Reports ``[n, 4, 8]`` whose energy sits in one of four pairs of angular bins, with a
    fixed random covariance inside each (the drops' situation in miniature)."""
    mix = np.random.default_rng(7)
    shapes = [mix.standard_normal((8, 8)) + 1j * mix.standard_normal((8, 8)) for _ in range(4)]
    group = rng.integers(0, 4, n)
    z = (rng.standard_normal((n, 8)) + 1j * rng.standard_normal((n, 8))) / np.sqrt(2)
    x = np.zeros((n, TAPS, ANTENNAS), complex)
    for g in range(4):
        rows = group == g
        block = (z[rows] @ shapes[g].T).reshape(-1, TAPS, 2)
        x[rows, :, 2 * g : 2 * g + 2] = block
    return x / np.linalg.norm(x.reshape(n, -1), axis=1)[:, None, None]


def gaussian_source(rng, n):
    lam = np.exp(-np.arange(TAPS * ANTENNAS) / 4.0)
    z = (rng.standard_normal((n, lam.size)) + 1j * rng.standard_normal((n, lam.size))) / np.sqrt(2)
    return (z * np.sqrt(lam)).reshape(n, TAPS, ANTENNAS), lam


def nmse_db(x, x_hat):
    return 10 * np.log10(np.sum(np.abs(x - x_hat) ** 2) / np.sum(np.abs(x) ** 2))


def test_groups_beat_one_klt_and_the_pooled_gaussian_limit():
    rng = np.random.default_rng(0)
    train, test = groups_source(rng, 4000), groups_source(rng, 1000)
    mixture = MixtureCoder.fit(train, 48.0, groups=5, seed=0)  # the pooled KLT + 4 groups
    group, index, bits = mixture.encode(test)
    x_hat = mixture.decode(group, index, (TAPS, ANTENNAS))
    assert abs(bits.mean() - 48.0) < 0.05 * 48.0
    coder = TransformCoder.fit(train, bits.mean())
    klt_index, _ = coder.encode(test)
    klt = nmse_db(test, coder.decode(klt_index, (TAPS, ANTENNAS)))
    pooled_limit = gaussian_nmse_db(covariance_eigenvalues(train), bits.mean())
    assert nmse_db(test, x_hat) < klt - 3.0
    assert nmse_db(test, x_hat) < pooled_limit - 1.0
    assert len(np.unique(group[group > 0])) == 4  # every group has its coder


def test_a_gaussian_source_gains_nothing():
    rng = np.random.default_rng(1)
    (train, lam), (test, _) = gaussian_source(rng, 4000), gaussian_source(rng, 1000)
    mixture = MixtureCoder.fit(train, 64.0, groups=4, seed=0)
    group, index, bits = mixture.encode(test)
    nmse = nmse_db(test, mixture.decode(group, index, (TAPS, ANTENNAS)))
    limit = gaussian_nmse_db(lam, bits.mean())
    assert limit < nmse < limit + 3.0


def test_bad_input_is_refused():
    rng = np.random.default_rng(2)
    train = groups_source(rng, 1000)
    with pytest.raises(InvalidStateError):
        MixtureCoder.fit(train, 32.0, groups=0)
    with pytest.raises(InvalidStateError):
        MixtureCoder.fit(train, float("nan"), groups=4)
    with pytest.raises(InvalidStateError):
        MixtureCoder.fit(train[:100], 32.0, groups=4)  # too few reports for 4 groups
    with pytest.raises(InvalidStateError):
        MixtureCoder.fit(np.abs(train), 32.0, groups=4)  # real
    for bad in (0, 2.5, True, 10):
        with pytest.raises(InvalidStateError, match="fit_reports"):
            MixtureCoder.fit(train, 32.0, groups=4, fit_reports=bad)
    mixture = MixtureCoder.fit(train, 32.0, groups=2)
    with pytest.raises(InvalidStateError):
        mixture.encode(np.ones((3, 5), complex))
    with pytest.raises(InvalidStateError):
        mixture.encode(np.full((3, TAPS, ANTENNAS), np.nan, complex))
    group, index, _ = mixture.encode(train[:5])
    with pytest.raises(InvalidStateError):
        mixture.decode(group + 5, index, (TAPS, ANTENNAS))


def test_checkpoint_round_trip_and_corrupt_files(tmp_path):
    import json

    from gainnet.csi.mixture_coding import (
        MIXTURE_CODERS,
        MIXTURE_CONFIG,
        load_mixture,
        save_mixture,
    )
    from gainnet.errors import CheckpointError

    rng = np.random.default_rng(4)
    train, test = groups_source(rng, 1500), groups_source(rng, 50)
    coder = MixtureCoder.fit(train, 32.0, groups=3)
    save_mixture(coder, tmp_path / "codec", {"taps": TAPS, "antennas": ANTENNAS})
    loaded, meta = load_mixture(tmp_path / "codec")
    assert meta["taps"] == TAPS and len(loaded.coders) == len(coder.coders)
    group, index, bits = coder.encode(test)
    group2, index2, bits2 = loaded.encode(test)
    np.testing.assert_array_equal(group, group2)
    np.testing.assert_array_equal(index, index2)
    np.testing.assert_allclose(bits, bits2, rtol=1e-5)
    x_hat = coder.decode(group, index, (TAPS, ANTENNAS))
    np.testing.assert_allclose(loaded.decode(group, index, (TAPS, ANTENNAS)), x_hat, atol=1e-6)

    raw = (tmp_path / "codec" / MIXTURE_CODERS).read_bytes()
    (tmp_path / "codec" / MIXTURE_CODERS).write_bytes(raw[:-8] + b"\x00" * 8)
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_mixture(tmp_path / "codec")
    (tmp_path / "codec" / MIXTURE_CODERS).write_bytes(raw)
    (tmp_path / "codec" / MIXTURE_CONFIG).write_text(json.dumps({"format": "other"}))
    with pytest.raises(CheckpointError):  # edited: the manifest no longer matches
        load_mixture(tmp_path / "codec")
    with pytest.raises(CheckpointError):
        load_mixture(tmp_path / "missing")


def test_a_resigned_but_wrong_checkpoint_is_refused(tmp_path):
    """Files edited and the manifest rewritten to match: the content checks still refuse."""
    import json

    from safetensors.numpy import load, save

    from gainnet.core.integrity import write_manifest
    from gainnet.csi.mixture_coding import (
        MIXTURE_CODERS,
        MIXTURE_CONFIG,
        load_mixture,
        save_mixture,
    )
    from gainnet.errors import CheckpointError

    coder = MixtureCoder.fit(groups_source(np.random.default_rng(5), 1500), 32.0, groups=3)
    root = save_mixture(coder, tmp_path / "codec", {"taps": TAPS})
    config = json.loads((root / MIXTURE_CONFIG).read_text())
    tensors = load((root / MIXTURE_CODERS).read_bytes())
    edits = [
        (MIXTURE_CONFIG, json.dumps({**config, "format": "other"}).encode(), "not a gainnet"),
        (MIXTURE_CONFIG, json.dumps({**config, "step": -1.0}).encode(), "step"),
        (MIXTURE_CONFIG, b"[1, 2]", "corrupt"),
        (MIXTURE_CODERS, save({**tensors, "sigma": tensors["sigma"] * np.nan}), "non-finite"),
        (MIXTURE_CODERS, save({**tensors, "sigma": tensors["sigma"][:, :3]}), "tensors"),
        (MIXTURE_CODERS, save({"sigma": tensors["sigma"]}), "tensors"),
    ]
    originals = {name: (root / name).read_bytes() for name in (MIXTURE_CONFIG, MIXTURE_CODERS)}
    for name, content, match in edits:
        (root / name).write_bytes(content)
        write_manifest(root, [MIXTURE_CONFIG, MIXTURE_CODERS])
        with pytest.raises(CheckpointError, match=match):
            load_mixture(root)
        (root / name).write_bytes(originals[name])
