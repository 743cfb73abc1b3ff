"""The edge server live in a separate process: bitwise splits, fuzzing, errors, concurrency."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gainnet.split import codecs
from gainnet.split.device import RemoteError, ServerConnection, SplitDevice
from gainnet.split.encoder import Activation
from gainnet.split.protocol import (
    DESCRIPTOR,
    HEADER,
    MAGIC,
    VERSION,
    Frame,
    FrameLimits,
    MessageType,
    ProtocolError,
    encode_frame,
    recv_frame,
)
from gainnet.split.spawn import spawned_server
from gainnet.split.stages import request_arrays
from gainnet.split.vit import ViTEncoder

READ_TIMEOUT_S = 2.0
HOST = "127.0.0.1"
SOCKET_TIMEOUT_S = 5.0
LIMITS = FrameLimits()


@pytest.fixture(scope="module")
def server():
    """Port of a live server process (ViT only); it must still be alive at the end."""
    extra = ("--read-timeout-s", str(READ_TIMEOUT_S))
    with spawned_server(models=("vit",), extra_args=extra, host=HOST) as (_, port):
        yield port


@pytest.fixture(scope="module")
def encoder() -> ViTEncoder:
    return ViTEncoder(seed=0)  # the server's vit_seed


@pytest.fixture(scope="module")
def images(encoder) -> np.ndarray:
    return encoder.random_images(1, seed=11)


@pytest.fixture(scope="module")
def reference(encoder, images) -> np.ndarray:
    return encoder.embed(images).numpy()


@pytest.fixture(scope="module")
def split12_arrays(encoder, images) -> dict[str, np.ndarray]:
    return request_arrays(encoder, encoder.raw_input(images), 12, "fp32")


def connect(port: int) -> ServerConnection:
    return ServerConnection((HOST, port), timeout_s=SOCKET_TIMEOUT_S)


def request_meta(encoder, split: int, codec: str = "fp32") -> dict:
    return {"model": "vit", "fingerprint": encoder.fingerprint(), "split": split, "codec": codec}


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def assert_alive(port: int) -> None:
    with connect(port) as conn:
        assert "stats" in conn.ping()


# ---------------------------------------------------------------------------- correctness
@pytest.mark.parametrize("split", [-1, 0, 1, 6, 12])
def test_fp32_split_equals_the_unsplit_model_bitwise(server, encoder, images, reference, split):
    with connect(server) as conn:
        result = SplitDevice(encoder, conn).infer(images, split, "fp32")
    assert result.split == split and result.codec == "fp32"
    assert result.embedding.shape == reference.shape
    assert np.array_equal(result.embedding, reference)
    assert result.uplink_bytes > 0 and result.downlink_bytes > 0


@pytest.mark.parametrize(("codec", "min_cosine"), [("fp16", 0.9999), ("int8", 0.999)])
@pytest.mark.parametrize("split", [1, 6])
def test_lossy_codecs_stay_close(server, encoder, images, reference, codec, min_cosine, split):
    with connect(server) as conn:
        result = SplitDevice(encoder, conn).infer(images, split, codec)
    assert (cosine(result.embedding, reference) >= min_cosine).all()


# ---------------------------------------------------------------------------- error handling
@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"model": "bert"}, "not served"),
        ({"model": None}, "not served"),
        ({"split": 13}, "split point"),
        ({"split": -2}, "split point"),
        ({"fingerprint": "0" * 64}, "fingerprint"),
        ({"codec": "fp8"}, "codec"),
        ({"codec": "fp16"}, "fp16"),  # fp32 bytes declared as fp16
        ({"split": -1}, "images"),  # raw split without the raw images
    ],
)
def test_bad_request_gets_remote_error_and_connection_survives(
    server, encoder, split12_arrays, meta, message
):
    arrays = split12_arrays
    with connect(server) as conn:
        with pytest.raises(RemoteError, match=message) as info:
            conn.call(MessageType.REQUEST, request_meta(encoder, 12) | meta, arrays)
        assert info.value.code == "bad_request"
        assert conn.ping()["stats"]["errors"] >= 1  # same connection still served
        reply = conn.call(MessageType.REQUEST, request_meta(encoder, 12), arrays)
        assert reply.type == MessageType.REPLY and reply.arrays["embedding"].shape == (1, 512)


def test_wrong_activation_shape_is_refused(server, encoder):
    with connect(server) as conn:
        for hidden in (np.zeros((1, 49, 768), np.float32), np.zeros((1, 50, 64), np.float32)):
            with pytest.raises(RemoteError, match="activation"):
                conn.call(MessageType.REQUEST, request_meta(encoder, 6), {"hidden": hidden})
        assert "stats" in conn.ping()


def test_a_server_refuses_reply_type_frames_and_keeps_the_connection(server):
    with connect(server) as conn:
        with pytest.raises(RemoteError) as info:
            conn.call(MessageType.REPLY, {}, {})
        assert info.value.code == "bad_type"
        assert "stats" in conn.ping()


def test_oversized_frame_is_refused_from_its_header(server):
    """Declared 1 TiB: refused with too_large at once, before any body byte is sent."""
    head = HEADER.pack(MAGIC, VERSION, MessageType.REQUEST, 0, 0, 3, 0, 2, 1 << 40)
    with socket.create_connection((HOST, server), timeout=SOCKET_TIMEOUT_S) as sock:
        start = time.perf_counter()
        sock.sendall(head)
        reply = recv_frame(sock, LIMITS)
        elapsed = time.perf_counter() - start
        assert reply.type == MessageType.ERROR and reply.meta["code"] == "too_large"
        assert elapsed < READ_TIMEOUT_S / 2  # it did not wait for the body
        assert sock.recv(1) == b""  # and closed the connection
    assert_alive(server)


def test_stalled_frame_is_closed_after_the_read_timeout(server):
    wire = encode_frame(Frame(MessageType.PING, 1, {"x": 1}))
    with socket.create_connection((HOST, server), timeout=SOCKET_TIMEOUT_S) as sock:
        start = time.perf_counter()
        sock.sendall(wire[:10])
        reply = recv_frame(sock, LIMITS)
        elapsed = time.perf_counter() - start
        assert reply.type == MessageType.ERROR and reply.meta["code"] == "timeout"
        assert READ_TIMEOUT_S * 0.9 <= elapsed < SOCKET_TIMEOUT_S
        assert sock.recv(1) == b""
    assert_alive(server)


# ---------------------------------------------------------------------------- fuzzing
def exchange(port: int, data: bytes) -> list[Frame]:
    """Send ``data``, close the write side, read frames until the server closes.

    Fails on a hang (socket timeout) or a reply frame cut short by the server.
    """
    replies: list[Frame] = []
    with socket.create_connection((HOST, port), timeout=SOCKET_TIMEOUT_S) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused early and closed: fine
        try:
            while True:
                replies.append(recv_frame(sock, LIMITS))
        except ConnectionResetError:
            pass  # closed with our unread bytes pending: a reset
        except ProtocolError as exc:
            assert exc.code == "truncated", f"server hung or sent garbage: {exc}"
            assert "closed 0 bytes into a read of 30" in str(exc), f"cut-off reply: {exc}"
    return replies


@pytest.fixture(scope="module")
def fuzz_frames(encoder) -> list[bytes]:
    raw = encoder.raw_input(encoder.random_images(1, seed=5))
    arrays = request_arrays(encoder, raw, 12, "int8")
    return [
        encode_frame(Frame(MessageType.REQUEST, 2, request_meta(encoder, 12, "int8"), arrays)),
        encode_frame(Frame(MessageType.PING, 1, {"x": [1, 2]}, {"a": np.arange(8, dtype="f4")})),
        encode_frame(Frame(MessageType.PING, 3)),
    ]


_positions = st.one_of(st.integers(0, 120), st.integers(0, 1 << 20))  # header-heavy
_garbage = st.tuples(
    st.just("garbage"),
    st.sampled_from([b"", MAGIC, MAGIC + bytes([VERSION]), MAGIC + bytes([VERSION, 6])]),
    st.binary(max_size=300),
)
_flipped = st.tuples(
    st.just("flipped"),
    st.integers(0, 2),
    st.lists(st.tuples(_positions, st.integers(1, 255)), min_size=1, max_size=4),
)
_truncated = st.tuples(st.just("truncated"), st.integers(0, 2), _positions)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(case=st.one_of(_garbage, _flipped, _truncated))
def test_fuzzed_input_gets_an_error_or_a_close_never_a_hang(server, fuzz_frames, case):
    kind = case[0]
    if kind == "garbage":
        data = case[1] + case[2]
    elif kind == "flipped":
        wire = bytearray(fuzz_frames[case[1]])
        for pos, mask in case[2]:
            wire[pos % len(wire)] ^= mask
        data = bytes(wire)
    else:
        wire = fuzz_frames[case[1]]
        data = wire[: case[2] % len(wire)]
    replies = exchange(server, data)
    if kind == "truncated":  # nothing complete was sent: only error frames may come back
        assert all(r.type == MessageType.ERROR for r in replies), replies
    elif kind == "garbage":  # (zero bytes after a PING header make a valid ping)
        assert all(r.type in (MessageType.ERROR, MessageType.PONG) for r in replies), replies
    assert len(replies) <= 1 + (kind == "flipped")
    assert_alive(server)


@pytest.mark.parametrize(
    "data",
    [
        HEADER.pack(MAGIC, VERSION, MessageType.PING, 0, 0, 1, 0, 4000, 0) + b"[" * 4000,
        HEADER.pack(MAGIC, VERSION, MessageType.PING, 1, 0, 1, 3 + 1 + 16, 0, 0)
        + DESCRIPTOR.pack(1, 1, 4)
        + b"x"
        + np.array([65536] * 4, "<u4").tobytes(),
    ],
    ids=["nested-meta", "dims-overflow"],
)
def test_frames_that_break_the_parser_do_not_bring_the_server_down(server, data):
    exchange(server, data)
    assert_alive(server)


def test_deeply_nested_meta_gets_an_error_frame(server):
    data = HEADER.pack(MAGIC, VERSION, MessageType.PING, 0, 0, 1, 0, 4000, 0) + b"[" * 4000
    replies = exchange(server, data)
    assert [r.meta.get("code") for r in replies] == ["bad_meta"]


# ---------------------------------------------------------------------------- concurrency
def test_concurrent_clients_get_their_own_replies(server, encoder):
    clients, rounds = 32, 3
    raw = encoder.raw_input(encoder.random_images(clients, seed=21))
    with torch.inference_mode():
        hidden = encoder.device_part(raw, 12).hidden.numpy()  # device parts computed up front
    sent = [codecs.encode(hidden[i : i + 1], "fp32") for i in range(clients)]
    expected = [
        encoder.server_part(Activation(torch.tensor(arrays["hidden"])), 12).numpy()
        for arrays in sent
    ]
    assert len({e.tobytes() for e in expected}) == clients  # distinct: a crossed reply shows
    meta = request_meta(encoder, 12)
    barrier = threading.Barrier(clients, timeout=30)

    def client(i: int) -> int:
        with ServerConnection((HOST, server), timeout_s=30.0) as conn:
            barrier.wait()
            for _ in range(rounds):
                reply = conn.call(MessageType.REQUEST, meta, sent[i])  # checks request ids
                assert reply.type == MessageType.REPLY
                assert np.array_equal(reply.arrays["embedding"], expected[i]), i
        return i

    with ThreadPoolExecutor(max_workers=clients) as pool:
        done = list(pool.map(client, range(clients)))
    assert done == list(range(clients))
    assert_alive(server)
