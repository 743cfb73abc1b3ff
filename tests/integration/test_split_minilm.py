"""Real split inference of the pretrained MiniLM across two processes on loopback."""

from __future__ import annotations

import numpy as np
import pytest

from gainnet.split.codecs import CODECS
from gainnet.split.device import RemoteError, ServerConnection, SplitDevice
from gainnet.split.encoder import RAW_SPLIT
from gainnet.split.knowledge import load_topics
from gainnet.split.models import make_encoder
from gainnet.split.protocol import MessageType
from gainnet.split.spawn import spawned_server
from gainnet.split.stages import request_arrays


@pytest.fixture(scope="module")
def server():
    with spawned_server(models=("minilm",)) as address:
        yield address


@pytest.fixture(scope="module")
def encoder():
    return make_encoder("minilm")


@pytest.fixture(scope="module")
def texts():
    topics = load_topics()
    return list(topics.texts[::40][:8])


def test_fp32_split_is_bitwise_the_unsplit_model_for_every_k(server, encoder, texts):
    reference = encoder.embed(texts).numpy()
    with ServerConnection(server) as conn:
        device = SplitDevice(encoder, conn)
        for split in [RAW_SPLIT, *range(encoder.num_layers + 1)]:
            result = device.infer(texts, split, "fp32")
            assert np.array_equal(result.embedding, reference), split
            assert len(result.predicted) == len(texts)


@pytest.mark.parametrize(("codec", "floor"), [("fp16", 0.9999), ("int8", 0.999)])
def test_lossy_codecs_keep_the_embedding(server, encoder, texts, codec, floor):
    reference = encoder.embed(texts).numpy()
    with ServerConnection(server) as conn:
        device = SplitDevice(encoder, conn)
        for split in range(encoder.num_layers + 1):
            result = device.infer(texts, split, codec)
            assert (result.embedding * reference).sum(1).min() >= floor, split


def test_payload_shrinks_with_the_codec(server, encoder, texts):
    with ServerConnection(server) as conn:
        device = SplitDevice(encoder, conn)
        sizes = {codec: device.infer(texts, 3, codec).uplink_bytes for codec in CODECS}
    assert sizes["int8"] < 0.3 * sizes["fp32"] and sizes["fp16"] < 0.55 * sizes["fp32"]


def test_zero_shot_labels_come_from_the_knowledge_base(server, encoder):
    topics = load_topics()
    pick = np.arange(0, len(topics.texts), 10)
    texts = [topics.texts[i] for i in pick]
    with ServerConnection(server) as conn:
        result = SplitDevice(encoder, conn).infer(texts, 2, "int8")
    index = {name: i for i, name in enumerate(topics.labels)}
    accuracy = np.mean([index[p] for p in result.predicted] == topics.targets[pick])
    assert accuracy >= 0.7  # zero-shot on 8 topics; chance is 0.125


def test_mismatched_weights_and_bad_activations_are_refused_and_the_link_stays_up(
    server, encoder, texts
):
    raw = encoder.raw_input(texts)
    arrays = request_arrays(encoder, raw, 2, "fp32")
    meta = {"model": "minilm", "split": 2, "codec": "fp32"}
    with ServerConnection(server) as conn:
        with pytest.raises(RemoteError, match="fingerprint"):
            conn.call(MessageType.REQUEST, meta | {"fingerprint": "0" * 64}, arrays)
        with pytest.raises(RemoteError, match="mask"):
            conn.call(MessageType.REQUEST, meta, {"hidden": arrays["hidden"]})
        with pytest.raises(RemoteError, match="384"):
            conn.call(MessageType.REQUEST, meta, arrays | {"hidden": arrays["hidden"][..., :10]})
        with pytest.raises(RemoteError, match="not served"):
            conn.call(MessageType.REQUEST, meta | {"model": "vit"}, arrays)
        reply = conn.call(MessageType.REQUEST, meta, arrays)
        assert np.array_equal(reply.arrays["embedding"], encoder.embed(texts).numpy())


LONG_TEXT = " ".join(["the base station lowers its transmit power when the channel is good"] * 12)


def test_long_texts_use_the_models_256_tokens_not_64(server, encoder):
    from gainnet.split.minilm import MiniLMEncoder

    tokens = encoder.raw_input([LONG_TEXT])["input_ids"].shape[1]
    assert 64 < tokens <= 256 and encoder.max_tokens == 256
    cut = MiniLMEncoder(max_tokens=64).embed([LONG_TEXT]).numpy()
    with ServerConnection(server) as conn:
        result = SplitDevice(encoder, conn).infer([LONG_TEXT], 3, "fp32")
    assert np.array_equal(result.embedding, encoder.embed([LONG_TEXT]).numpy())
    assert float((result.embedding * cut).sum()) < 0.999  # truncation at 64 would change it


def test_the_server_refuses_more_tokens_than_its_limit(server):
    device_encoder = make_encoder("minilm", max_tokens=512)
    text = LONG_TEXT + " " + LONG_TEXT
    assert device_encoder.raw_input([text])["input_ids"].shape[1] > 256
    with ServerConnection(server) as conn, pytest.raises(RemoteError, match="max-tokens"):
        SplitDevice(device_encoder, conn).infer([text], 2, "fp32")


def test_int8_keeps_one_to_three_word_inputs(encoder):
    """Short texts average few tokens in the pooling, so quantisation error shows most there
    (0.998 before the codec carried each token's outlier exactly)."""
    import torch

    from gainnet.split import codecs
    from gainnet.split.encoder import Activation

    topics = load_topics()
    vocab = sorted({w.strip(".,!?;:'\"()").lower() for t in topics.texts for w in t.split()})
    rng = np.random.default_rng(0)
    texts = [w for w in vocab[:60] if w] + [" ".join(rng.choice(vocab[1:], 3)) for _ in range(40)]
    raw = encoder.raw_input(texts)
    reference = encoder.embed(texts).numpy()
    for split in range(encoder.num_layers + 1):
        act = encoder.device_part(raw, split)
        decoded = codecs.decode(codecs.encode(act.hidden.numpy(), "int8"), "int8")
        out = encoder.server_part(Activation(torch.tensor(decoded), act.mask), split).numpy()
        assert (out * reference).sum(1).min() >= 0.9995, split
