"""The edge server: an asyncio TCP server that finishes split inference for many devices.

Each connection is served by its own coroutine; model compute runs on one worker thread (torch
releases the GIL), so the event loop keeps reading frames, answering errors and pacing replies
for everyone else while a request computes. A malformed or truncated frame gets an error frame
and its connection is closed; a well-formed request that cannot be served (unknown model, bad
split point, wrong shapes, too much work) gets an error frame and the connection stays open.

Limits (all in :class:`ServerConfig`), so that small, valid, hostile requests cannot take the
server from everyone else:

- work per request: at most ``max_batch`` inputs, ``max_tokens`` tokens per text and
  ``max_batch_tokens`` inputs x tokens (ViT: 197 tokens per image), ``max_profile_repeats``;
- memory across connections: frames being read or served hold at most ``max_inflight_bytes``
  together; a frame that does not fit is refused with ``busy`` before its payload is read;
- time: ``idle_timeout_s`` for an idle connection, ``read_timeout_s`` without any data inside
  a frame (an inactivity timeout), and the link a client asks the server to emulate may not
  make one reply wait longer than ``max_reply_pacing_s``;
- outputs: an embedding that is not finite or has zero norm is an error, not a result.
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

from gainnet.core.validation import Validated, setting
from gainnet.errors import GainnetError, InvalidConfigError
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

#: MiniLM's own limit (its position embeddings) and the truncation sentence-transformers uses
MODEL_MAX_TOKENS = 512
DEFAULT_MAX_TOKENS = 256


@dataclass(frozen=True)
class ServerConfig(Validated):
    """What the edge server binds, loads and allows.

    Attributes
    ----------
    host, port : str, int
        Address to bind (port 0..65535; 0 = any free port).
    models : tuple of str
        Models to load (``minilm``, ``vit``).
    vit_seed : int
        Seed of the ViT's random weights (device and server must agree).
    max_tokens : int
        MiniLM truncation and the most tokens per text a request may carry (1..512; 256 as in
        the model's sentence-transformers configuration).
    limits : FrameLimits
        Frame size bounds.
    read_timeout_s : float
        Seconds without any data inside a frame before the connection is dropped.
    idle_timeout_s : float
        Seconds an idle connection (between frames) is kept.
    max_connections : int
        Open connections served at once; more get ``busy``.
    max_batch, max_batch_tokens : int
        Inputs per request, and inputs x tokens per request.
    max_profile_repeats : int
        Repeats of one PROFILE request.
    max_inflight_bytes : int
        Bytes of frames being read or served, over all connections.
    max_reply_pacing_s : float
        Longest wait the link a client asks for may impose on one reply.
    threads : int
        Torch threads of the compute worker.
    """

    host: str = "127.0.0.1"
    port: int = setting(0, low=0, high=65535)
    models: tuple[str, ...] = setting(ENCODERS, choices=ENCODERS, max_items=len(ENCODERS))
    vit_seed: int = setting(0, low=0, high=2**63 - 1)
    max_tokens: int = setting(DEFAULT_MAX_TOKENS, low=1, high=MODEL_MAX_TOKENS)
    limits: FrameLimits = field(default_factory=FrameLimits)
    read_timeout_s: float = setting(10.0, gt=0, high=3600)
    idle_timeout_s: float = setting(15.0, gt=0, high=86_400)
    max_connections: int = setting(256, low=1, high=4096)
    max_batch: int = setting(32, low=1, high=4096)
    max_batch_tokens: int = setting(8192, low=1, high=1 << 20)
    max_profile_repeats: int = setting(10, low=1, high=100)
    max_inflight_bytes: int = setting(512 << 20, low=1 << 10, high=16 << 30)
    max_reply_pacing_s: float = setting(5.0, gt=0, high=3600)
    threads: int = setting(1, low=1, high=256)

    def check(self) -> None:
        if not self.models:
            raise InvalidConfigError("a server needs at least one model", "models")
        if self.limits.max_frame_bytes > self.max_inflight_bytes:
            raise InvalidConfigError(
                f"max_inflight_bytes ({self.max_inflight_bytes}) must hold one largest frame "
                f"({self.limits.max_frame_bytes} bytes)"
            )


class ByteBudget:
    """Bytes held by frames in flight across connections (event-loop thread only)."""

    def __init__(self, capacity: int) -> None:
        self.capacity, self.used = capacity, 0

    def acquire(self, n: int) -> None:
        if self.used + n > self.capacity:
            raise ProtocolError(
                "busy", f"the server holds {self.used} bytes of other requests; retry shortly"
            )
        self.used += n

    def release(self, n: int) -> None:
        self.used = max(0, self.used - n)


@dataclass
class ServerStats:
    connections: int = 0
    requests: int = 0
    errors: int = 0
    malformed: int = 0


class EdgeServer:
    """Serve split-inference requests. ``await start()`` returns the bound port."""

    def __init__(self, config: ServerConfig, encoders: dict[str, SplitEncoder] | None = None):
        if not isinstance(config, ServerConfig):
            raise InvalidConfigError(f"EdgeServer needs a ServerConfig, got {type(config)}")
        self.config = config
        torch.set_num_threads(config.threads)
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
        self._budget = ByteBudget(config.max_inflight_bytes)
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
        held = [0]

        def reserve(n: int) -> None:
            self._budget.acquire(n)
            held[0] = n

        try:
            while True:
                try:
                    frame = await read_frame(
                        reader, cfg.limits, cfg.read_timeout_s, cfg.idle_timeout_s, reserve
                    )
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
                del frame  # its payload is released with the budget below
                await self._send(writer, reply, link)
                self._budget.release(held[0])
                held[0] = 0
        finally:
            self._budget.release(held[0])

    async def _send(self, writer, frame: Frame, link: Link) -> None:
        data = encode_frame(frame)
        wait_s = link.one_way_s + link.transfer_s(len(data))
        if wait_s > self.config.max_reply_pacing_s:  # never let a client's link hold a slot
            limit = self.config.max_reply_pacing_s
            message = f"the requested link would hold this reply {wait_s:.3g} s (limit {limit} s)"
            data, link = encode_frame(error_frame(frame.request_id, "bad_link", message)), Link()
        await write_paced(writer, data, link)

    async def _dispatch(self, frame: Frame) -> tuple[Frame, Link]:
        rid = frame.request_id
        try:
            link = Link.from_meta(frame.meta.get("link"))
            if link.one_way_s > self.config.max_reply_pacing_s:
                raise ProtocolError(
                    "bad_link",
                    f"rtt_ms {link.rtt_ms} exceeds what this server emulates "
                    f"({2000 * self.config.max_reply_pacing_s:.0f} ms)",
                )
            loop = asyncio.get_running_loop()
            if frame.type == MessageType.REQUEST:
                self._check_work(frame)
                reply = await loop.run_in_executor(self._pool, self._infer, frame)
                self.stats.requests += 1
            elif frame.type == MessageType.PROFILE:
                self._check_work(frame)
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

    def _check_work(self, frame: Frame) -> None:
        """Refuse, before it queues for the worker, a request that is empty or too large."""
        cfg = self.config
        encoder = self._encoder(frame.meta)
        split = encoder.check_split(frame.meta.get("split", RAW_SPLIT))
        first = encoder.raw_names[0] if split == RAW_SPLIT else "hidden"
        array = frame.arrays.get(first)
        if array is None or array.ndim < 2:
            raise GainnetError(f"{encoder.name} split {split} needs an array {first!r} [n, ...]")
        n = array.shape[0]
        tokens = encoder.fixed_tokens if encoder.fixed_tokens is not None else array.shape[1]
        if n == 0 or tokens == 0:
            raise GainnetError(f"empty input: {first!r} has shape {list(array.shape)}")
        if n > cfg.max_batch:
            raise ProtocolError("too_much_work", f"{n} inputs > {cfg.max_batch} per request")
        if encoder.fixed_tokens is None and tokens > cfg.max_tokens:
            raise ProtocolError(
                "too_much_work",
                f"{tokens} tokens per text > {cfg.max_tokens} (the server's --max-tokens)",
            )
        if n * tokens > cfg.max_batch_tokens:
            raise ProtocolError(
                "too_much_work",
                f"{n} inputs x {tokens} tokens > {cfg.max_batch_tokens} per request: split the "
                "batch",
            )
        if frame.type == MessageType.PROFILE:
            repeats = frame.meta.get("repeats", 5)
            limit = cfg.max_profile_repeats
            if (
                isinstance(repeats, bool)
                or not isinstance(repeats, int)
                or not 1 <= repeats <= limit
            ):
                raise GainnetError(f"repeats must be an integer in 1..{limit}, got {repeats!r}")

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
        if act.mask is not None and bool((act.mask.sum(1) == 0).any()):
            raise GainnetError("empty input: a row of the mask has no real token")
        embedding = encoder.server_part(act, split)
        check_embedding(embedding.numpy(), "the server's result")
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
        timings = time_stages(encoder, _exact_arrays(frame.arrays, encoder), repeats)
        return Frame(MessageType.PROFILE_REPLY, frame.request_id, timings)


def check_embedding(embedding: np.ndarray, what: str) -> None:
    """Refuse embeddings ``[n, dim]`` that are not finite or have zero norm (an activation
    out of the model's range gives NaN or a collapsed vector, never a real answer)."""
    if not np.isfinite(embedding).all():
        raise GainnetError(
            f"{what} is not finite: the activation is outside the range this model computes on"
        )
    if embedding.size and bool((np.linalg.norm(embedding, axis=1) == 0).any()):
        raise GainnetError(f"{what} has a zero-norm row: the input carries no information")


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
