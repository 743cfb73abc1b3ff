"""The split wire format: exact round trips, and every malformed frame refused with its code."""

from __future__ import annotations

import asyncio
import json
import math
import socket
import struct
import threading
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gainnet.errors import GainnetError
from gainnet.split.device import parse_address
from gainnet.split.link import Link, send_paced
from gainnet.split.protocol import (
    DESCRIPTOR,
    DTYPES,
    HEADER,
    MAGIC,
    VERSION,
    Frame,
    FrameLimits,
    MessageType,
    ProtocolError,
    encode_frame,
    error_frame,
    frame_steps,
    read_frame,
    recv_frame,
)

LIMITS = FrameLimits()


def parse(data: bytes, limits: FrameLimits = LIMITS) -> Frame:
    """Drive :func:`frame_steps` as ``recv_frame`` does; the frame must use every byte."""
    steps = frame_steps(limits)
    need, pos = next(steps), 0
    try:
        while True:
            chunk = data[pos : pos + need]
            if len(chunk) < need:
                raise ProtocolError("truncated", f"{len(chunk)} of {need} bytes")
            pos += need
            need = steps.send(chunk)
    except StopIteration as done:
        assert pos == len(data), f"{len(data) - pos} bytes left over"
        return done.value


def code_of(data: bytes, limits: FrameLimits = LIMITS) -> str:
    with pytest.raises(ProtocolError) as info:
        parse(data, limits)
    return info.value.code


def header(
    *,
    magic: bytes = MAGIC,
    version: int = VERSION,
    mtype: int = MessageType.REQUEST,
    n_arrays: int = 0,
    request_id: int = 7,
    desc_len: int = 0,
    meta_len: int = 0,
    payload_len: int = 0,
) -> bytes:
    return HEADER.pack(
        magic, version, mtype, n_arrays, 0, request_id, desc_len, meta_len, payload_len
    )


def descriptor(name: bytes, code: int, dims: tuple[int, ...]) -> bytes:
    return DESCRIPTOR.pack(len(name), code, len(dims)) + name + struct.pack(f"<{len(dims)}I", *dims)


def raw_frame(descs: list[bytes], meta: bytes = b"", payload: bytes = b"", **kw) -> bytes:
    desc = b"".join(descs)
    kw.setdefault("n_arrays", len(descs))
    head = header(desc_len=len(desc), meta_len=len(meta), payload_len=len(payload), **kw)
    return head + desc + meta + payload


def assert_same_frame(got: Frame, sent: Frame, wire: bytes) -> None:
    assert got.type == sent.type and got.request_id == sent.request_id
    assert got.meta == sent.meta
    assert list(got.arrays) == list(sent.arrays)
    for name, array in sent.arrays.items():
        out = got.arrays[name]
        assert out.dtype.name == array.dtype.name and out.shape == array.shape, name
        little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        assert out.tobytes() == little.tobytes(), name
    assert got.wire_bytes == len(wire)


def random_array(rng: np.random.Generator, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    if dtype.startswith("float"):
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)


# ---------------------------------------------------------------------------- round trips
SHAPES = [(0,), (5,), (3, 0, 2), (2, 3), (1, 50, 8), (2, 1, 1, 1, 1, 3)]


@pytest.mark.parametrize("dtype", sorted(DTYPES.values()))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_round_trip_every_dtype_and_shape(dtype, shape):
    rng = np.random.default_rng(0)
    frame = Frame(MessageType.REPLY, 2**64 - 1, {"k": [1, 2.5, None, "é"]}, {})
    frame.arrays = {"x": random_array(rng, dtype, shape), "y": random_array(rng, dtype, (4,))}
    wire = encode_frame(frame)
    assert_same_frame(parse(wire), frame, wire)


@pytest.mark.parametrize("mtype", list(MessageType))
def test_round_trip_empty_frame_of_every_type(mtype):
    frame = Frame(mtype, 0)
    wire = encode_frame(frame)
    assert len(wire) == HEADER.size + 2  # the meta "{}"
    got = parse(wire)
    assert got.type == mtype and got.meta == {} and got.arrays == {}
    assert got.wire_bytes == len(wire)


def test_empty_meta_of_zero_bytes_parses_as_an_empty_object():
    got = parse(header(mtype=MessageType.PING))
    assert got.type == MessageType.PING and got.meta == {} and got.arrays == {}
    assert got.wire_bytes == HEADER.size


def test_round_trip_zero_dimensional_array():
    frame = Frame(MessageType.REPLY, 1, {}, {"s": np.array(2.5, dtype=np.float32)})
    assert parse(encode_frame(frame)).arrays["s"].shape == ()


def test_round_trip_many_arrays_mixed_dtypes_and_layouts():
    rng = np.random.default_rng(1)
    frame = Frame(MessageType.REQUEST, 12345, {"model": "vit", "split": 3})
    frame.arrays = {
        "hidden": rng.standard_normal((2, 5, 4)).astype(np.float32),
        "half": rng.standard_normal((3, 2)).astype(np.float16),
        "transposed": rng.standard_normal((4, 3)).astype(np.float32).T,  # not C-contiguous
        "big_endian": np.arange(6, dtype=">i4").reshape(2, 3),
        "mask": np.array([[1, 0, 1]], dtype=np.uint8),
        "ids": np.array([2**62, -(2**62)], dtype=np.int64),
        "q": np.array([-128, 0, 127], dtype=np.int8),
        "ünïcode-name": np.zeros((0, 3), dtype=np.int32),
    }
    wire = encode_frame(frame)
    got = parse(wire)
    assert_same_frame(got, frame, wire)
    assert np.array_equal(got.arrays["transposed"], frame.arrays["transposed"])
    assert got.arrays["big_endian"].tolist() == [[0, 1, 2], [3, 4, 5]]


def test_round_trip_over_a_socketpair_with_recv_frame():
    rng = np.random.default_rng(2)
    frames = [
        Frame(MessageType.PING, 1),
        Frame(MessageType.REQUEST, 2, {"a": 1}, {"h": rng.standard_normal((2, 3, 4)).astype("f4")}),
        Frame(MessageType.ERROR, 3, {"code": "x", "error": "y"}),
    ]
    a, b = socket.socketpair()
    with a, b:
        b.settimeout(5.0)
        a.sendall(b"".join(encode_frame(f) for f in frames))  # back to back on one stream
        for sent in frames:
            assert_same_frame(recv_frame(b, LIMITS), sent, encode_frame(sent))


_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
_json = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
_arrays = st.sampled_from(sorted(DTYPES.values())).flatmap(
    lambda dtype: hnp.arrays(
        dtype, hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=4)
    )
)


@given(
    mtype=st.sampled_from(list(MessageType)),
    request_id=st.integers(0, 2**64 - 1),
    meta=st.dictionaries(st.text(max_size=6), _json, max_size=4),
    arrays=st.dictionaries(st.text(min_size=1, max_size=10), _arrays, max_size=8),
)
def test_round_trip_property(mtype, request_id, meta, arrays):
    frame = Frame(mtype, request_id, meta, arrays)
    wire = encode_frame(frame)
    assert_same_frame(parse(wire), frame, wire)


# ---------------------------------------------------------------------------- encoder refusals
@pytest.mark.parametrize(
    ("arrays", "code"),
    [
        ({"x": np.zeros(3, np.float64)}, "bad_dtype"),
        ({"x": np.zeros(3, bool)}, "bad_dtype"),
        ({"": np.zeros(3, np.float32)}, "bad_descriptor"),
        ({"n" * 256: np.zeros(3, np.float32)}, "bad_descriptor"),
        ({"x": np.zeros((1,) * 7, np.float32)}, "bad_descriptor"),
        ({f"a{i}": np.zeros(1, np.int8) for i in range(9)}, "bad_descriptor"),
    ],
)
def test_encode_refuses_what_a_reader_would_refuse(arrays, code):
    with pytest.raises(ProtocolError) as info:
        encode_frame(Frame(MessageType.REQUEST, 1, {}, arrays))
    assert info.value.code == code


def test_error_frame_carries_code_and_message():
    frame = parse(encode_frame(error_frame(9, "too_large", "nope")))
    assert frame.type == MessageType.ERROR and frame.request_id == 9
    assert frame.meta == {"code": "too_large", "error": "nope"}


# ---------------------------------------------------------------------------- malformed frames
def valid_wire() -> bytes:
    arrays = {"h": np.arange(12, dtype=np.float32).reshape(3, 4), "m": np.ones(3, np.uint8)}
    return encode_frame(Frame(MessageType.REQUEST, 5, {"model": "vit"}, arrays))


def test_valid_wire_parses():
    assert parse(valid_wire()).meta == {"model": "vit"}


@pytest.mark.parametrize("magic", [b"GNSQ", b"\x00\x00\x00\x00", b"HTTP", b"gnsp"])
def test_bad_magic(magic):
    assert code_of(magic + valid_wire()[4:]) == "bad_magic"


@pytest.mark.parametrize("version", [0, 2, 255])
def test_bad_version(version):
    wire = bytearray(valid_wire())
    wire[4] = version
    assert code_of(bytes(wire)) == "bad_version"


@pytest.mark.parametrize("mtype", [0, 8, 99, 255])
def test_bad_type(mtype):
    wire = bytearray(valid_wire())
    wire[5] = mtype
    assert code_of(bytes(wire)) == "bad_type"


def test_too_large_metadata():
    meta = json.dumps({"pad": "x" * 100}).encode()
    assert code_of(raw_frame([], meta), FrameLimits(max_meta_bytes=64)) == "too_large"
    assert parse(raw_frame([], meta), FrameLimits(max_meta_bytes=len(meta))).meta["pad"]


def test_too_large_frame():
    wire = valid_wire()
    assert code_of(wire, FrameLimits(max_frame_bytes=len(wire) - 1)) == "too_large"
    assert parse(wire, FrameLimits(max_frame_bytes=len(wire))).request_id == 5


def test_too_large_is_decided_from_the_header_alone():
    """A huge declared payload is refused after the 30 header bytes, nothing else read."""
    steps = frame_steps(LIMITS)
    assert next(steps) == HEADER.size
    with pytest.raises(ProtocolError) as info:
        steps.send(header(payload_len=2**63))
    assert info.value.code == "too_large"


def test_too_many_arrays():
    descs = [descriptor(f"a{i}".encode(), 3, (1,)) for i in range(9)]
    assert code_of(raw_frame(descs, payload=b"\x00" * 9)) == "bad_descriptor"
    limits = FrameLimits(max_arrays=2)
    assert code_of(raw_frame(descs[:3], payload=b"\x00" * 3), limits) == "bad_descriptor"


@pytest.mark.parametrize(
    "descs",
    [
        [descriptor(b"x", 0, (2,))],  # dtype code 0
        [descriptor(b"x", 7, (2,))],  # dtype code 7
        [descriptor(b"x", 255, (2,))],
        [descriptor(b"x", 1, (1,) * 7)],  # ndim over the limit
        [descriptor(b"", 1, (2,))],  # empty name
        [descriptor(b"\xff\xfe", 1, (2,))],  # name not UTF-8
        [descriptor(b"x", 1, (2,)), descriptor(b"x", 1, (2,))],  # duplicate name
    ],
    ids=["code0", "code7", "code255", "ndim7", "empty-name", "bad-utf8", "duplicate"],
)
def test_bad_descriptor(descs):
    assert code_of(raw_frame(descs, payload=b"\x00" * 16)) == "bad_descriptor"


def test_bad_descriptor_stray_bytes():
    desc = descriptor(b"x", 1, (2,)) + b"\x00\x01"
    assert code_of(raw_frame([desc], payload=b"\x00" * 8)) == "bad_descriptor"


def test_bad_descriptor_too_short():
    desc = descriptor(b"xyz", 1, (2, 2))
    for cut in (1, 3, len(desc) - 1):
        wire = raw_frame([desc[:cut]], payload=b"\x00" * 16)
        assert code_of(wire) == "bad_descriptor", cut


def test_bad_descriptor_count_larger_than_descriptors():
    desc = descriptor(b"x", 1, (2,))
    assert code_of(raw_frame([desc], payload=b"\x00" * 8, n_arrays=2)) == "bad_descriptor"


@pytest.mark.parametrize("delta", [-1, 1, 4, -8])
def test_size_mismatch(delta):
    desc = descriptor(b"x", 1, (2, 3))  # 24 bytes of float32
    wire = raw_frame([desc], payload=b"\x00" * (24 + delta))
    assert code_of(wire) == "size_mismatch"


def test_size_mismatch_checked_before_meta_and_payload_are_read():
    steps = frame_steps(LIMITS)
    desc = descriptor(b"x", 5, (4,))
    next(steps)
    steps.send(header(n_arrays=1, desc_len=len(desc), meta_len=3, payload_len=15))
    with pytest.raises(ProtocolError) as info:
        steps.send(desc)
    assert info.value.code == "size_mismatch"


@pytest.mark.parametrize(
    "meta",
    [b"{not json", b"\xff\xfe", b"{}{}", b"{'a': 1}", b"[1, 2]", b"null", b"3", b'"text"', b"true"],
)
def test_bad_meta(meta):
    assert code_of(raw_frame([], meta)) == "bad_meta"


def test_json_object_meta_is_accepted():
    assert parse(raw_frame([], b' {"a": [1, {"b": null}]} ')).meta == {"a": [1, {"b": None}]}


def test_deeply_nested_meta_is_bad_meta():
    assert code_of(raw_frame([], b"[" * 20000)) == "bad_meta"


def test_dims_whose_product_overflows_are_refused():
    desc = descriptor(b"x", 1, (65536, 65536, 65536, 65536))
    with pytest.raises(ProtocolError):
        parse(raw_frame([desc]))


# ---------------------------------------------------------------------------- sockets
def test_recv_frame_refuses_malformed_header_from_a_socket():
    a, b = socket.socketpair()
    with a, b:
        b.settimeout(5.0)
        a.sendall(b"XXXX" + valid_wire()[4:])
        with pytest.raises(ProtocolError) as info:
            recv_frame(b, LIMITS)
        assert info.value.code == "bad_magic"


@pytest.mark.parametrize("cut", [0, 1, 29, 30, 31, 40, -1])
def test_truncated_frame_when_the_peer_closes(cut):
    wire = valid_wire()
    a, b = socket.socketpair()
    with b:
        b.settimeout(5.0)
        with a:
            a.sendall(wire[:cut])
        with pytest.raises(ProtocolError) as info:
            recv_frame(b, LIMITS)
        assert info.value.code == "truncated"


def test_recv_frame_times_out_mid_frame():
    a, b = socket.socketpair()
    with a, b:
        b.settimeout(0.2)
        a.sendall(valid_wire()[:40])
        with pytest.raises(ProtocolError) as info:
            recv_frame(b, LIMITS)
        assert info.value.code == "timeout"


def _stream(data: bytes, eof: bool = True) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return reader


def test_read_frame_asyncio():
    async def main():
        wire = valid_wire()
        frame = await read_frame(_stream(wire + wire), LIMITS, 1.0, 1.0)
        assert frame.request_id == 5 and frame.wire_bytes == len(wire)
        assert await read_frame(_stream(b""), LIMITS, 1.0, 1.0) is None  # clean close
        assert await read_frame(_stream(b"", eof=False), LIMITS, 1.0, 0.05) is None  # idle
        with pytest.raises(ProtocolError) as info:
            await read_frame(_stream(wire[:-3]), LIMITS, 1.0, 1.0)
        assert info.value.code == "truncated"
        with pytest.raises(ProtocolError) as info:
            await read_frame(_stream(wire[:-3], eof=False), LIMITS, 0.05, 1.0)
        assert info.value.code == "timeout"
        with pytest.raises(ProtocolError) as info:
            await read_frame(_stream(b"Z" + wire[1:]), LIMITS, 1.0, 1.0)
        assert info.value.code == "bad_magic"

    asyncio.run(main())


# ---------------------------------------------------------------------------- Link
@pytest.mark.parametrize("bandwidth", [0.0, -1.0, math.nan, math.inf, -math.inf])
def test_link_refuses_bad_bandwidth(bandwidth):
    with pytest.raises(GainnetError, match="bandwidth"):
        Link(bandwidth_mbps=bandwidth)


@pytest.mark.parametrize("rtt", [-1e-9, -5.0, math.nan, math.inf])
def test_link_refuses_bad_rtt(rtt):
    with pytest.raises(GainnetError, match="rtt"):
        Link(rtt_ms=rtt)


def test_link_arithmetic():
    assert Link().transfer_s(10**9) == 0.0 and Link().one_way_s == 0.0
    link = Link(bandwidth_mbps=8.0, rtt_ms=30.0)
    assert link.transfer_s(1_000_000) == pytest.approx(1.0)
    assert link.transfer_s(0) == 0.0
    assert link.one_way_s == pytest.approx(0.015)
    assert Link(100.0).transfer_s(125_000) == pytest.approx(0.01)
    assert Link(0.5).transfer_s(1) == pytest.approx(16e-6)


def test_link_meta_round_trip_and_refusals():
    link = Link(12.5, 4.0)
    assert Link.from_meta(link.to_meta()) == link
    assert Link.from_meta(Link().to_meta()) == Link()
    assert Link.from_meta(None) == Link() and Link.from_meta({}) == Link()
    assert Link.from_meta({"bandwidth_mbps": "20", "rtt_ms": "1"}) == Link(20.0, 1.0)
    for bad in ["fast", [1, 2], {"bandwidth_mbps": "x"}, {"rtt_ms": None}, {"rtt_ms": -1}]:
        with pytest.raises(GainnetError):
            Link.from_meta(bad)


def test_send_paced_takes_at_least_the_link_time():
    data = b"\x01" * 100_000
    link = Link(bandwidth_mbps=16.0, rtt_ms=20.0)  # 50 ms to serialise + 10 ms one way
    a, b = socket.socketpair()
    received = bytearray()

    def drain():
        while len(received) < len(data):
            chunk = b.recv(65536)
            if not chunk:
                break
            received.extend(chunk)

    with a, b:
        thread = threading.Thread(target=drain)
        thread.start()
        start = time.perf_counter()
        send_paced(a, data, link)
        elapsed = time.perf_counter() - start
        thread.join(5.0)
    assert bytes(received) == data
    assert elapsed >= link.one_way_s + link.transfer_s(len(data)) * 0.99


# ---------------------------------------------------------------------------- addresses
@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:8000", ("127.0.0.1", 8000)),
        ("localhost:1", ("localhost", 1)),
        ("edge.example:65535", ("edge.example", 65535)),
        ("::1:9000", ("::1", 9000)),
    ],
)
def test_parse_address(address, expected):
    assert parse_address(address) == expected


@pytest.mark.parametrize(
    "address",
    ["", "localhost", ":8000", "host:", "host:abc", "host:0", "host:65536", "host:-1", "host: 80"],
)
def test_parse_address_refuses(address):
    with pytest.raises(GainnetError, match="HOST:PORT"):
        parse_address(address)
