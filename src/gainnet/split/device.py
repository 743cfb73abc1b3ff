"""The edge device: runs the first ``k`` layers, sends the activation, receives the result.

:class:`ServerConnection` is the blocking client side of the protocol (one socket, requests
answered in order, request ids checked). :class:`SplitDevice` adds the model: it times its own
compute, optionally stretches it by a slowdown factor to emulate a weaker device (stated as
emulation in every result), and reports compute, bytes and network time separately.
"""

from __future__ import annotations

import itertools
import socket
import time
from dataclasses import asdict, dataclass

import numpy as np

from gainnet.errors import GainnetError
from gainnet.split import codecs
from gainnet.split.encoder import SplitEncoder, split_label
from gainnet.split.link import Link, send_paced
from gainnet.split.protocol import (
    Frame,
    FrameLimits,
    MessageType,
    ProtocolError,
    encode_frame,
    recv_frame,
)
from gainnet.split.stages import request_arrays


class RemoteError(GainnetError):
    """The server answered with an error frame."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(f"server error {code}: {message}")


def parse_address(address: str) -> tuple[str, int]:
    """``"HOST:PORT"`` -> ``(host, port)`` with a clear error."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise GainnetError(f"server address must be HOST:PORT, got {address!r}")
    return host, int(port)


class ServerConnection:
    """A blocking connection to an edge server. Use as a context manager."""

    def __init__(
        self,
        address: str | tuple[str, int],
        link: Link | None = None,
        timeout_s: float = 60.0,
        limits: FrameLimits | None = None,
    ) -> None:
        self.address = parse_address(address) if isinstance(address, str) else address
        self.link = link or Link()
        self.limits = limits or FrameLimits()
        try:
            self.sock = socket.create_connection(self.address, timeout=timeout_s)
        except OSError as exc:
            raise GainnetError(f"cannot reach the edge server at {self.address}: {exc}") from None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._ids = itertools.count(1)
        self.sent_bytes = 0

    def __enter__(self) -> ServerConnection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def call(self, mtype: MessageType, meta: dict, arrays: dict[str, np.ndarray]) -> Frame:
        """Send one frame (paced by the link) and return the matching reply frame.

        Raises :class:`RemoteError` for the server's error frames and
        :class:`~gainnet.split.protocol.ProtocolError` for a reply that is malformed, of the
        wrong type or request, or a connection the server closed.
        """
        rid = next(self._ids)
        data = encode_frame(Frame(mtype, rid, meta | {"link": self.link.to_meta()}, arrays))
        try:
            send_paced(self.sock, data, self.link)
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise self._closed_while_sending(exc) from None
        try:
            reply = recv_frame(self.sock, self.limits)
        except (ConnectionResetError, BrokenPipeError):
            raise ProtocolError("closed", "the server closed the connection") from None
        if reply.type == MessageType.ERROR:
            raise RemoteError(_text(reply.meta.get("code")), _text(reply.meta.get("error")))
        if reply.request_id != rid:
            raise ProtocolError("crossed", f"reply to request {reply.request_id}, expected {rid}")
        expected = {
            MessageType.REQUEST: MessageType.REPLY,
            MessageType.PROFILE: MessageType.PROFILE_REPLY,
            MessageType.PING: MessageType.PONG,
        }.get(mtype)
        if expected is not None and reply.type != expected:
            raise ProtocolError("bad_reply", f"a {reply.type.name} answered a {mtype.name}")
        self.sent_bytes = len(data)
        return reply

    def _closed_while_sending(self, exc: OSError) -> GainnetError:
        """The server hung up mid-upload: report its error frame if it sent one."""
        try:
            self.sock.settimeout(2.0)
            reply = recv_frame(self.sock, self.limits)
            if reply.type == MessageType.ERROR:
                return RemoteError(_text(reply.meta.get("code")), _text(reply.meta.get("error")))
        except (GainnetError, OSError):
            pass
        return ProtocolError(
            "closed", f"the server closed the connection while the request was sent ({exc})"
        )

    def ping(self) -> dict:
        return self.call(MessageType.PING, {}, {}).meta


@dataclass
class SplitResult:
    """One split-inference request, end to end.

    embedding ``[n, dim]``; predicted labels (text model) or ``None``; times in seconds, bytes on
    the wire. ``device_compute_s`` is measured; ``emulated_slowdown_s`` is the extra wait added
    to emulate a weaker device; ``network_s = total_s - device - server``.
    """

    split: int
    codec: str
    embedding: np.ndarray
    predicted: list[str] | None
    device_compute_s: float
    emulated_slowdown_s: float
    server_compute_s: float
    network_s: float
    total_s: float
    uplink_bytes: int
    downlink_bytes: int

    def summary(self) -> dict:
        out = asdict(self)
        out.pop("embedding")
        out["split"] = split_label(self.split)
        return out


class SplitDevice:
    """A device holding ``encoder`` and a connection to the server."""

    def __init__(self, encoder: SplitEncoder, connection: ServerConnection, slowdown: float = 1.0):
        if not np.isfinite(slowdown) or slowdown < 1.0:
            raise GainnetError(
                f"device slowdown must be >= 1 (1 = as fast as here), got {slowdown}"
            )
        self.encoder, self.connection, self.slowdown = encoder, connection, float(slowdown)

    def infer(self, inputs, split: int, codec: str = "fp32") -> SplitResult:
        """Run the device part of ``split``, send it with ``codec``, wait for the result."""
        split = self.encoder.check_split(split)
        codecs.check_codec(codec)
        start = time.perf_counter()
        raw = self.encoder.raw_input(inputs)
        arrays = request_arrays(self.encoder, raw, split, codec)
        compute_s = time.perf_counter() - start
        extra_s = compute_s * (self.slowdown - 1.0)
        if extra_s > 0:
            time.sleep(extra_s)
        meta = {
            "model": self.encoder.name,
            "fingerprint": self.encoder.fingerprint(),
            "split": split,
            "codec": codec,
        }
        reply = self.connection.call(MessageType.REQUEST, meta, arrays)
        total_s = time.perf_counter() - start
        embedding, predicted, server_s = check_reply(reply, len(raw[self.encoder.raw_names[0]]))
        return SplitResult(
            split=split,
            codec=codec,
            embedding=embedding,
            predicted=predicted,
            device_compute_s=compute_s,
            emulated_slowdown_s=extra_s,
            server_compute_s=server_s,
            network_s=total_s - compute_s - extra_s - server_s,
            total_s=total_s,
            uplink_bytes=self.connection.sent_bytes,
            downlink_bytes=reply.wire_bytes,
        )


def _text(value: object, limit: int = 500) -> str:
    """A server-supplied value as bounded text."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_reply(reply: Frame, n: int) -> tuple[np.ndarray, list[str] | None, float]:
    """``(embedding [n, dim], predicted labels or None, server seconds)`` of a REPLY, or a
    :class:`~gainnet.split.protocol.ProtocolError`: the device does not trust the server."""
    embedding = reply.arrays.get("embedding")
    if embedding is None or embedding.ndim != 2 or embedding.shape[0] != n:
        shape = None if embedding is None else list(embedding.shape)
        raise ProtocolError("bad_reply", f"reply needs an [{n}, dim] 'embedding', got {shape}")
    if embedding.dtype != np.float32 or not np.isfinite(embedding).all():
        raise ProtocolError("bad_reply", "the reply's embedding is not finite float32")
    if bool((np.linalg.norm(embedding, axis=1) == 0).any()):
        raise ProtocolError("bad_reply", "the reply's embedding has a zero-norm row")
    server_s = reply.meta.get("server_compute_s")
    if isinstance(server_s, bool) or not isinstance(server_s, int | float):
        raise ProtocolError("bad_reply", f"server_compute_s must be a number, got {server_s!r}")
    if not (np.isfinite(server_s) and server_s >= 0):
        raise ProtocolError("bad_reply", f"server_compute_s must be >= 0, got {server_s!r}")
    predicted = reply.meta.get("predicted")
    if predicted is not None and (
        not isinstance(predicted, list)
        or len(predicted) != n
        or not all(isinstance(p, str) and len(p) <= 200 for p in predicted)
    ):
        raise ProtocolError("bad_reply", f"'predicted' must be {n} labels")
    return np.array(embedding), predicted, float(server_s)
