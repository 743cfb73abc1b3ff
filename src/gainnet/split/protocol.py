"""The split-inference wire format: versioned binary frames carrying arrays and JSON, no pickle.

Frame layout (little-endian)::

    header      30 bytes  magic "GNSP" | version u8 | type u8 | n_arrays u8 | reserved u8 |
                          request_id u64 | descriptors_len u16 | meta_len u32 | payload_len u64
    descriptors           per array: name_len u8 | dtype u8 | ndim u8 | name | dims u32 x ndim
    meta                  UTF-8 JSON object
    payload               the arrays' raw C-order bytes, one after another

Every length is checked against :class:`FrameLimits` before anything is allocated; the payload
length must equal the sum of the arrays' sizes. The reader is a small state machine
(:func:`frame_steps`) driven by a blocking socket or an asyncio stream.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
import struct
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from gainnet.core.validation import Validated, setting
from gainnet.errors import GainnetError

MAGIC = b"GNSP"
VERSION = 1
HEADER = struct.Struct("<4sBBBBQHIQ")
DESCRIPTOR = struct.Struct("<BBB")
DTYPES = {1: "float32", 2: "float16", 3: "int8", 4: "uint8", 5: "int32", 6: "int64"}
DTYPE_CODES = {name: code for code, name in DTYPES.items()}


class MessageType(IntEnum):
    REQUEST = 1
    REPLY = 2
    ERROR = 3
    PROFILE = 4
    PROFILE_REPLY = 5
    PING = 6
    PONG = 7


class ProtocolError(GainnetError):
    """A malformed, oversized or truncated frame. ``code`` names the fault."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(f"{code}: {message}")


@dataclass(frozen=True)
class FrameLimits(Validated):
    """Upper bounds a reader enforces, in bytes: a frame (30 bytes..1 GiB), its JSON metadata
    (1 byte..16 MiB), arrays per frame (1..255) and dimensions per array (1..6)."""

    max_frame_bytes: int = setting(64 << 20, low=HEADER.size, high=1 << 30)
    max_meta_bytes: int = setting(64 << 10, low=1, high=16 << 20)
    max_arrays: int = setting(8, low=1, high=255)
    max_ndim: int = setting(6, low=1, high=6)


@dataclass
class Frame:
    """One message: its type, the request it belongs to, JSON metadata and named arrays."""

    type: MessageType
    request_id: int
    meta: dict = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    wire_bytes: int = 0  # size on the wire, set by the reader (not serialised)


def encode_frame(frame: Frame) -> bytes:
    """Serialise ``frame``; raises :class:`ProtocolError` for what the reader would refuse."""
    meta = json.dumps(frame.meta, separators=(",", ":"), allow_nan=False).encode()
    descriptors, payloads = [], []
    for name, array in frame.arrays.items():
        array = np.asarray(array, order="C")  # keeps 0-d arrays 0-d
        code = DTYPE_CODES.get(array.dtype.name)
        if code is None:
            raise ProtocolError("bad_dtype", f"array {name!r} has unsupported dtype {array.dtype}")
        raw_name = name.encode()
        if not 0 < len(raw_name) < 256 or array.ndim > FrameLimits.max_ndim:
            raise ProtocolError("bad_descriptor", f"array {name!r}: name or ndim out of range")
        descriptors.append(DESCRIPTOR.pack(len(raw_name), code, array.ndim) + raw_name)
        descriptors.append(struct.pack(f"<{array.ndim}I", *array.shape))
        payloads.append(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())
    desc = b"".join(descriptors)
    if len(frame.arrays) > FrameLimits.max_arrays or len(desc) >= 1 << 16:
        raise ProtocolError("bad_descriptor", "too many arrays")
    payload_len = sum(len(p) for p in payloads)
    header = HEADER.pack(
        MAGIC,
        VERSION,
        int(frame.type),
        len(frame.arrays),
        0,
        int(frame.request_id),
        len(desc),
        len(meta),
        payload_len,
    )
    return b"".join([header, desc, meta, *payloads])


def frame_steps(limits: FrameLimits) -> Generator[int, bytes, Frame]:
    """Parse one frame: yields how many bytes it needs next, is sent exactly that many."""
    magic, version, mtype, n_arrays, _, request_id, desc_len, meta_len, payload_len = HEADER.unpack(
        (yield HEADER.size)
    )
    if magic != MAGIC:
        raise ProtocolError("bad_magic", f"expected {MAGIC!r}, got {magic!r}")
    if version != VERSION:
        raise ProtocolError("bad_version", f"version {version} (this side speaks {VERSION})")
    if mtype not in MessageType._value2member_map_:
        raise ProtocolError("bad_type", f"unknown message type {mtype}")
    if n_arrays > limits.max_arrays:
        raise ProtocolError("bad_descriptor", f"{n_arrays} arrays > {limits.max_arrays}")
    if meta_len > limits.max_meta_bytes:
        raise ProtocolError("too_large", f"metadata of {meta_len} bytes > {limits.max_meta_bytes}")
    total = HEADER.size + desc_len + meta_len + payload_len
    if total > limits.max_frame_bytes:
        raise ProtocolError("too_large", f"frame of {total} bytes > {limits.max_frame_bytes}")
    specs = _parse_descriptors((yield desc_len), n_arrays, limits)
    expected = sum(math.prod(shape) * dtype.itemsize for _, dtype, shape in specs)  # exact
    if expected != payload_len:
        raise ProtocolError(
            "size_mismatch", f"arrays need {expected} bytes, header says {payload_len}"
        )
    meta_raw = yield meta_len
    try:
        meta = json.loads(meta_raw.decode()) if meta_len else {}
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # JSONDecodeError included
        raise ProtocolError("bad_meta", f"metadata is not JSON: {type(exc).__name__}") from None
    if not isinstance(meta, dict):
        raise ProtocolError("bad_meta", "metadata must be a JSON object")
    payload = yield payload_len
    arrays, offset = {}, 0
    for name, dtype, shape in specs:
        count = math.prod(shape)
        arrays[name] = np.frombuffer(payload, dtype=dtype, count=count, offset=offset).reshape(
            shape
        )
        offset += count * dtype.itemsize
    return Frame(MessageType(mtype), request_id, meta, arrays, total)


def _parse_descriptors(raw: bytes, n_arrays: int, limits: FrameLimits) -> list:
    specs, pos = [], 0
    try:
        for _ in range(n_arrays):
            name_len, code, ndim = DESCRIPTOR.unpack_from(raw, pos)
            pos += DESCRIPTOR.size
            name = raw[pos : pos + name_len].decode()
            pos += name_len
            if (
                code not in DTYPES
                or ndim > limits.max_ndim
                or not name
                or len(name.encode()) != name_len
            ):
                raise ProtocolError("bad_descriptor", f"array {name!r}: dtype {code}, ndim {ndim}")
            shape = struct.unpack_from(f"<{ndim}I", raw, pos)
            pos += 4 * ndim
            if any(s[0] == name for s in specs):
                raise ProtocolError("bad_descriptor", f"array {name!r} appears twice")
            specs.append((name, np.dtype(DTYPES[code]).newbyteorder("<"), shape))
    except (struct.error, UnicodeDecodeError) as exc:
        raise ProtocolError("bad_descriptor", f"descriptors do not parse: {exc}") from None
    if pos != len(raw):
        raise ProtocolError("bad_descriptor", f"{len(raw) - pos} stray descriptor bytes")
    return specs


async def read_frame(
    reader: asyncio.StreamReader,
    limits: FrameLimits,
    read_timeout_s: float,
    idle_timeout_s: float,
    reserve: Callable[[int], None] | None = None,
) -> Frame | None:
    """Read one frame from an asyncio stream; ``None`` on a clean close before a frame starts.

    Waits up to ``idle_timeout_s`` for the first byte; after that, a frame may take as long as
    it needs while data keeps arriving, but ``read_timeout_s`` without a single byte is a
    ``timeout`` (an inactivity timeout: a large upload on a slow link is not cut off).
    ``reserve(frame_bytes)`` is called once the header is valid and before the rest is read
    (a server's memory budget across connections); it may raise :class:`ProtocolError`.
    """
    steps = frame_steps(limits)
    need = next(steps)
    try:
        first = await asyncio.wait_for(reader.read(1), idle_timeout_s)
    except TimeoutError:
        return None
    if not first:
        return None
    try:
        header = first + await _read_exactly(reader, need - 1, read_timeout_s)
        need = steps.send(header)
        if reserve is not None:
            fields = HEADER.unpack(header)
            reserve(HEADER.size + fields[6] + fields[7] + fields[8])
        while True:
            data = await _read_exactly(reader, need, read_timeout_s) if need else b""
            need = steps.send(data)
    except StopIteration as done:
        return done.value
    except asyncio.IncompleteReadError as exc:
        raise ProtocolError(
            "truncated", f"connection closed {len(exc.partial)} bytes into a read of {need}"
        ) from None
    except TimeoutError:
        raise ProtocolError(
            "timeout", f"no data for {read_timeout_s} s in the middle of a frame"
        ) from None


async def _read_exactly(reader: asyncio.StreamReader, n: int, timeout_s: float) -> bytes:
    """``n`` bytes; ``TimeoutError`` only after ``timeout_s`` without any data."""
    parts, got = [], 0
    while got < n:
        chunk = await asyncio.wait_for(reader.read(min(n - got, 1 << 20)), timeout_s)
        if not chunk:
            raise asyncio.IncompleteReadError(b"".join(parts), n)
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def recv_frame(sock: socket.socket, limits: FrameLimits) -> Frame:
    """Read one frame from a blocking socket (its own timeout applies to every read)."""
    steps = frame_steps(limits)
    need = next(steps)
    try:
        while True:
            need = steps.send(_recv_exactly(sock, need))
    except StopIteration as done:
        return done.value


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        try:
            k = sock.recv_into(view[got:])
        except TimeoutError:
            raise ProtocolError("timeout", f"no reply data within {sock.gettimeout()} s") from None
        if k == 0:
            raise ProtocolError("truncated", f"connection closed {got} bytes into a read of {n}")
        got += k
    return bytes(buf)


def error_frame(request_id: int, code: str, message: str) -> Frame:
    return Frame(MessageType.ERROR, request_id, {"code": code, "error": message})
