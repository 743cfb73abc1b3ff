"""Link emulation by pacing: a sender waits half the RTT, then writes at the link's bit rate.

Data leaves in chunks of 16 KiB, each once the emulated link would have delivered its last
bit, so the receiver cannot start on a frame before the link would have carried all of it.

This is emulation in user space, stated as such in every report. The kernel-shaped variant
(network namespaces joined by a shaped veth pair) is in :mod:`gainnet.split.netns`.
"""

from __future__ import annotations

import asyncio
import math
import socket
import time
from dataclasses import dataclass

from gainnet.errors import GainnetError

CHUNK_BYTES = 16 << 10
#: the range of an emulated link: 1 kbit/s to 1 Tbit/s, round trips up to one minute
MIN_BANDWIDTH_MBPS, MAX_BANDWIDTH_MBPS = 1e-3, 1e6
MAX_RTT_MS = 60_000.0


@dataclass(frozen=True)
class Link:
    """An emulated link. ``bandwidth_mbps`` None = unpaced; ``rtt_ms`` round-trip time."""

    bandwidth_mbps: float | None = None
    rtt_ms: float = 0.0

    def __post_init__(self) -> None:
        bw = self.bandwidth_mbps
        if bw is not None and not (
            math.isfinite(bw) and MIN_BANDWIDTH_MBPS <= bw <= MAX_BANDWIDTH_MBPS
        ):
            allowed = f"[{MIN_BANDWIDTH_MBPS}, {MAX_BANDWIDTH_MBPS:g}]"
            raise GainnetError(f"bandwidth_mbps must be in {allowed}, got {bw}")
        if not (math.isfinite(self.rtt_ms) and 0 <= self.rtt_ms <= MAX_RTT_MS):
            raise GainnetError(f"rtt_ms must be in [0, {MAX_RTT_MS:g}], got {self.rtt_ms}")

    @property
    def one_way_s(self) -> float:
        return self.rtt_ms / 2000.0

    def transfer_s(self, num_bytes: int) -> float:
        """Seconds to serialise ``num_bytes`` onto the link (0 when unpaced)."""
        return 0.0 if self.bandwidth_mbps is None else num_bytes * 8 / (self.bandwidth_mbps * 1e6)

    def to_meta(self) -> dict:
        return {"bandwidth_mbps": self.bandwidth_mbps, "rtt_ms": self.rtt_ms}

    @classmethod
    def from_meta(cls, meta: dict | None) -> Link:
        if not meta:
            return cls()
        if not isinstance(meta, dict):
            raise GainnetError("link must be an object with bandwidth_mbps and rtt_ms")
        try:
            bw = meta.get("bandwidth_mbps")
            return cls(None if bw is None else float(bw), float(meta.get("rtt_ms", 0.0)))
        except (TypeError, ValueError) as exc:
            raise GainnetError(f"bad link parameters {meta}: {exc}") from None


def send_paced(sock: socket.socket, data: bytes, link: Link) -> None:
    """Blocking send of ``data`` after a one-way delay, at the link's rate."""
    if link.one_way_s:
        time.sleep(link.one_way_s)
    if link.bandwidth_mbps is None:
        sock.sendall(data)
        return
    start, view = time.perf_counter(), memoryview(data)
    for pos in range(0, len(data), CHUNK_BYTES):
        # a chunk leaves once the link would have delivered its last bit
        wait = start + link.transfer_s(min(pos + CHUNK_BYTES, len(data))) - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        sock.sendall(view[pos : pos + CHUNK_BYTES])


async def write_paced(writer: asyncio.StreamWriter, data: bytes, link: Link) -> None:
    """asyncio counterpart of :func:`send_paced`."""
    if link.one_way_s:
        await asyncio.sleep(link.one_way_s)
    if link.bandwidth_mbps is None:
        writer.write(data)
        await writer.drain()
        return
    loop = asyncio.get_running_loop()
    start, view = loop.time(), memoryview(data)
    for pos in range(0, len(data), CHUNK_BYTES):
        wait = start + link.transfer_s(min(pos + CHUNK_BYTES, len(data))) - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        writer.write(view[pos : pos + CHUNK_BYTES])
        await writer.drain()
