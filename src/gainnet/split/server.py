"""The edge server: an asyncio TCP server that finishes split inference for many devices.

Each connection is served by its own coroutine; model compute runs on one worker thread (torch
releases the GIL), so the event loop keeps reading frames, answering errors and pacing replies
for everyone else while a request computes. A malformed or truncated frame gets an error frame
and its connection is closed; a well-formed request that cannot be served (unknown model, bad
split point, wrong shapes) gets an error frame and the connection stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch

from gainnet.errors import GainnetError
from gainnet.split import codecs
from gainnet.split.encoder import RAW_SPLIT, Activation, SplitEncoder
from gainnet.split.knowledge import KnowledgeBase, load_topics
from gainnet.split.link import Link, write_paced
from gainnet.split.models import ENCODERS, make_encoder
from gainnet.split.protocol import (
    Frame,
    FrameLimits,
    MessageType,
    ProtocolError,
    encode_frame,
    error_frame,
    read_frame,
)
from gainnet.split.stages import time_stages


@dataclass
class ServerConfig:
    """host/port to bind (port 0 = any free port); models to load; limits in bytes and seconds."""

    host: str = "127.0.0.1"
    port: int = 0
    models: tuple[str, ...] = ENCODERS
    vit_seed: int = 0
    max_tokens: int = 64
    limits: FrameLimits = field(default_factory=FrameLimits)
    read_timeout_s: float = 10.0
    idle_timeout_s: float = 300.0
    max_connections: int = 256
    threads: int = 1


@dataclass
class ServerStats:
    connections: int = 0
    requests: int = 0
    errors: int = 0
    malformed: int = 0


class EdgeServer:
    """Serve split-inference requests. ``await start()`` returns the bound port."""

    def __init__(self, config: ServerConfig, encoders: dict[str, SplitEncoder] | None = None):
        self.config = config
        torch.set_num_threads(max(1, config.threads))
        if encoders is None:
            encoders = {
                name: make_encoder(name, vit_seed=config.vit_seed, max_tokens=config.max_tokens)
                for name in config.models
            }
        self.encoders = encoders
        self.knowledge: dict[str, KnowledgeBase] = {}
        if "minilm" in encoders:
            topics = load_topics()
            self.knowledge["minilm"] = KnowledgeBase(
                encoders["minilm"], topics.labels, topics.descriptions
            )
        self.stats = ServerStats()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gainnet-compute")
        self._active = 0
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, self.config.host, self.config.port)
        return self._server.sockets[0].getsockname()[1]

    async def serve_forever(self) -> None:
        assert self._server is not None, "call start() first"
        async with self._server:
            await self._server.serve_forever()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ connections
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        self._active += 1
        try:
            if self._active > self.config.max_connections:
                await self._send(writer, error_frame(0, "busy", "too many connections"), Link())
                return
            await self._serve_connection(reader, writer)
        except (ConnectionError, OSError):
            pass  # the peer went away; nothing to answer
        finally:
            self._active -= 1
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _serve_connection(self, reader, writer) -> None:
        cfg = self.config
        while True:
            try:
                frame = await read_frame(reader, cfg.limits, cfg.read_timeout_s, cfg.idle_timeout_s)
            except (ConnectionError, OSError):
                raise
            except Exception as exc:  # ProtocolError, or anything a hostile frame provokes
                self.stats.malformed += 1
                code = exc.code if isinstance(exc, ProtocolError) else "malformed"
                await self._send(writer, error_frame(0, code, str(exc)), Link())
                return
            if frame is None:
                return
            reply, link = await self._dispatch(frame)
            await self._send(writer, reply, link)

    async def _send(self, writer, frame: Frame, link: Link) -> None:
        await write_paced(writer, encode_frame(frame), link)

    async def _dispatch(self, frame: Frame) -> tuple[Frame, Link]:
        rid = frame.request_id
        try:
            link = Link.from_meta(frame.meta.get("link"))
            loop = asyncio.get_running_loop()
            if frame.type == MessageType.REQUEST:
                reply = await loop.run_in_executor(self._pool, self._infer, frame)
                self.stats.requests += 1
            elif frame.type == MessageType.PROFILE:
                reply = await loop.run_in_executor(self._pool, self._profile, frame)
            elif frame.type == MessageType.PING:
                reply = Frame(MessageType.PONG, rid, {"stats": self.stats.__dict__.copy()})
            else:
                raise ProtocolError("bad_type", f"a server does not accept {frame.type.name}")
        except GainnetError as exc:
            self.stats.errors += 1
            code = exc.code if isinstance(exc, ProtocolError) else "bad_request"
            return error_frame(rid, code, str(exc)), Link()
        except Exception as exc:  # keep serving everyone else; say what happened
            self.stats.errors += 1
            print(f"gainnet split server: internal error: {exc!r}", file=sys.stderr)
            return error_frame(rid, "internal", f"{type(exc).__name__}: {exc}"), Link()
        return reply, link

    # ------------------------------------------------------------------ compute (worker thread)
    def _encoder(self, meta: dict) -> SplitEncoder:
        name = meta.get("model")
        if name not in self.encoders:
            raise GainnetError(
                f"model {name!r} is not served here; served: {sorted(self.encoders)}"
            )
        encoder = self.encoders[name]
        fingerprint = meta.get("fingerprint")
        if fingerprint is not None and fingerprint != encoder.fingerprint():
            raise GainnetError(f"device and server weights of {name!r} differ (fingerprint)")
        return encoder

    @torch.inference_mode()
    def _infer(self, frame: Frame) -> Frame:
        start = time.perf_counter()
        meta = frame.meta
        encoder = self._encoder(meta)
        split = encoder.check_split(meta.get("split", RAW_SPLIT))
        if split == RAW_SPLIT:
            act = encoder.stage_input(_exact_arrays(frame.arrays, encoder))
        else:
            act = _activation(frame.arrays, encoder, codecs.check_codec(meta.get("codec", "")))
        decoded = time.perf_counter()
        embedding = encoder.server_part(act, split)
        out_meta = {"split": split}
        arrays = {"embedding": embedding.numpy()}
        kb = self.knowledge.get(encoder.name)
        if kb is not None:
            arrays["scores"] = kb.scores(embedding).numpy()
            out_meta |= {"labels": list(kb.labels), "predicted": kb.predict(embedding)}
        done = time.perf_counter()
        out_meta |= {"server_decode_s": decoded - start, "server_compute_s": done - start}
        return Frame(MessageType.REPLY, frame.request_id, out_meta, arrays)

    def _profile(self, frame: Frame) -> Frame:
        encoder = self._encoder(frame.meta)
        repeats = frame.meta.get("repeats", 5)
        if not isinstance(repeats, int) or not 1 <= repeats <= 100:
            raise GainnetError(f"repeats must be an integer in 1..100, got {repeats!r}")
        timings = time_stages(encoder, _exact_arrays(frame.arrays, encoder), repeats)
        return Frame(MessageType.PROFILE_REPLY, frame.request_id, timings)


def _exact_arrays(arrays: dict[str, np.ndarray], encoder: SplitEncoder) -> dict[str, np.ndarray]:
    missing = [k for k in encoder.raw_names if k not in arrays]
    if missing:
        raise GainnetError(
            f"raw input for {encoder.name} needs arrays {encoder.raw_names}; missing {missing}"
        )
    return {k: arrays[k] for k in encoder.raw_names}


def _activation(arrays: dict[str, np.ndarray], encoder: SplitEncoder, codec: str) -> Activation:
    hidden = codecs.decode(arrays, codec)
    if hidden.ndim != 3 or hidden.shape[-1] != encoder.width:
        raise GainnetError(f"activation must be [n, tokens, {encoder.width}], got {hidden.shape}")
    tokens = encoder.fixed_tokens
    if tokens is not None and hidden.shape[1] != tokens:
        raise GainnetError(
            f"{encoder.name} activations have {tokens} tokens, got {hidden.shape[1]}"
        )
    mask = None
    if encoder.uses_mask:
        raw_mask = arrays.get("mask")
        if raw_mask is None or raw_mask.dtype != np.uint8 or raw_mask.shape != hidden.shape[:2]:
            raise GainnetError(f"{encoder.name} needs a uint8 'mask' of shape {hidden.shape[:2]}")
        if raw_mask.size and raw_mask.max() > 1:
            raise GainnetError("mask values must be 0 or 1")
        mask = torch.tensor(raw_mask)
    return Activation(torch.tensor(hidden), mask)


def run_server(config: ServerConfig, ready=print) -> None:
    """Run until interrupted; calls ``ready("READY <port>")`` once listening."""

    async def main() -> None:
        server = EdgeServer(config)
        port = await server.start()
        ready(f"READY {port}")
        try:
            await server.serve_forever()
        finally:
            await server.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
