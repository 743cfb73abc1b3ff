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
