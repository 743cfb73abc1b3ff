"""``gainnet split profile``: per-layer compute on device and server, payload per split point.

The device side is timed here (times the slowdown factor, stated as emulation); the server side
is timed by the server itself on the same input (a PROFILE frame); frame sizes come from the
real encoder. The result is a JSON file (:data:`~gainnet.split.latency.PROFILE_FORMAT`) that
the latency model and the Stackelberg scenario read; it carries the linear fit
``c(l) = a*l + b`` of device seconds for ``l`` local layers.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np
import torch

from gainnet.split.device import ServerConnection
from gainnet.split.encoder import SplitEncoder
from gainnet.split.latency import PROFILE_FORMAT, SplitProfile
from gainnet.split.protocol import MessageType
from gainnet.split.stages import request_arrays, request_bytes, time_stages


def _scaled(timings: dict, factor: float) -> dict:
    out = {}
    for key, value in timings.items():
        if isinstance(value, dict):
            out[key] = {k: v * factor for k, v in value.items()}
        elif isinstance(value, list):
            out[key] = [v * factor for v in value]
        else:
            out[key] = value * factor
    return out


def profile_split(
    encoder: SplitEncoder,
    raw: dict[str, np.ndarray],
    connection: ServerConnection,
    repeats: int = 5,
    slowdown: float = 1.0,
) -> SplitProfile:
    """Profile ``encoder`` on the batch ``raw`` with a live server; see the module doc."""
    meta = {"model": encoder.name, "fingerprint": encoder.fingerprint()}
    measured = time_stages(encoder, raw, repeats)
    server = connection.call(MessageType.PROFILE, meta | {"repeats": int(repeats)}, raw).meta
    server.pop("link", None)
    last = encoder.num_layers
    request_meta = meta | {"split": last, "codec": "int8", "link": connection.link.to_meta()}
    reply = connection.call(
        MessageType.REQUEST, request_meta, request_arrays(encoder, raw, last, "int8")
    )
    hidden = encoder.device_part(raw, 0).hidden
    data = {
        "format": PROFILE_FORMAT,
        "model": encoder.name,
        "fingerprint": encoder.fingerprint(),
        "batch": int(hidden.shape[0]),
        "tokens": int(hidden.shape[1]),
        "width": int(hidden.shape[2]),
        "num_layers": encoder.num_layers,
        "torch_threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "device_slowdown": float(slowdown),
        "device_note": "device times = times measured here x device_slowdown (emulation)"
        if slowdown != 1.0
        else "device times measured here",
        "device": _scaled(measured, slowdown),
        "device_measured": measured,
        "server": server,
        "request_bytes": request_bytes(encoder, raw, request_meta),
        "reply_bytes": reply.wire_bytes,
    }
    profile = SplitProfile(data)
    data["cost_fit"] = profile.cost_fit() | {
        "what": "device seconds to run the input stage and l layers: c(l) = a*l + b"
    }
    return profile


def write_profile(profile: SplitProfile, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(profile.data, indent=2) + "\n")
    return path


def profile_anew(address, encoder, raw, repeats: int, slowdown: float = 1.0) -> SplitProfile:
    """:func:`profile_split` on a connection of its own to ``address``: servers drop idle
    connections, so a sweep that re-profiles between rounds must not keep one open."""
    from gainnet.split.device import ServerConnection

    with ServerConnection(address) as conn:
        return profile_split(encoder, raw, conn, repeats, slowdown)
