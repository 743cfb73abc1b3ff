"""The latency model of a split point, and the best split for a link.

For split ``k`` and codec ``c`` on a link of bandwidth ``B`` and round-trip time ``RTT``::

    T(k, c) = device(k, c) + request_bytes(k, c) * 8 / B + RTT + server(k, c) + reply_bytes * 8 / B

``device(k, c)`` = input stage + layers 0..k-1 + encoding with ``c`` (all times the device's
slowdown); ``server(k, c)`` = decoding + layers k..L-1 + head. For the raw split the device
sends its input and the server runs every stage. Times come from a :class:`SplitProfile`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gainnet.errors import GainnetError
from gainnet.split import codecs
from gainnet.split.encoder import RAW_SPLIT
from gainnet.split.link import Link

PROFILE_FORMAT = "gainnet-split-profile/1"


@dataclass(frozen=True)
class SplitProfile:
    """Measured stage times (seconds) and frame sizes (bytes) of one encoder and batch shape.

    device / server: ``{"input_s", "layer_s" [L], "head_s", "encode_s" {codec}, "decode_s"
    {codec}}``; request_bytes: ``{codec: {split: bytes}}`` (split as text, "-1" = raw);
    reply_bytes: bytes of the server's reply.
    """

    data: dict

    def __post_init__(self) -> None:
        d = self.data
        if d.get("format") != PROFILE_FORMAT:
            raise GainnetError(f"not a gainnet split profile (format {d.get('format')!r})")
        for side in ("device", "server"):
            layers = d[side]["layer_s"]
            if len(layers) != d["num_layers"] or not all(np.isfinite(x) and x >= 0 for x in layers):
                raise GainnetError(f"profile {side}.layer_s must hold {d['num_layers']} times >= 0")

    @classmethod
    def load(cls, path: str | Path) -> SplitProfile:
        try:
            return cls(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise GainnetError(f"cannot read split profile {path}: {exc}") from None

    @classmethod
    def median(cls, profiles: list[SplitProfile]) -> SplitProfile:
        """Stage times as the median over ``profiles`` (sizes from the first)."""
        if not profiles:
            raise GainnetError("median of no profiles")
        data = dict(profiles[0].data)
        for side in ("device", "server"):
            data[side] = _median_tree([p.data[side] for p in profiles])
        data["profiles_merged"] = len(profiles)
        return cls(data)

    @property
    def num_layers(self) -> int:
        return int(self.data["num_layers"])

    def splits(self) -> list[int]:
        return [RAW_SPLIT, *range(self.num_layers + 1)]

    def device_s(self, split: int, codec: str) -> float:
        dev = self.data["device"]
        if split == RAW_SPLIT:
            return 0.0
        return dev["input_s"] + sum(dev["layer_s"][:split]) + dev["encode_s"][codec]

    def server_s(self, split: int, codec: str) -> float:
        srv = self.data["server"]
        if split == RAW_SPLIT:
            return srv["input_s"] + sum(srv["layer_s"]) + srv["head_s"]
        return srv["decode_s"][codec] + sum(srv["layer_s"][split:]) + srv["head_s"]

    def request_bytes(self, split: int, codec: str) -> int:
        return int(self.data["request_bytes"][codec][str(split)])

    def predict(self, split: int, codec: str, link: Link) -> dict[str, float]:
        """Predicted seconds by part: device, uplink, rtt, server, downlink, total."""
        codecs.check_codec(codec)
        if split not in self.splits():
            raise GainnetError(f"split {split} outside -1..{self.num_layers}")
        parts = {
            "device_s": self.device_s(split, codec),
            "uplink_s": link.transfer_s(self.request_bytes(split, codec)),
            "rtt_s": link.rtt_ms / 1000.0,
            "server_s": self.server_s(split, codec),
            "downlink_s": link.transfer_s(int(self.data["reply_bytes"])),
        }
        parts["total_s"] = sum(parts.values())
        return parts

    def best_split(self, link: Link, codec_names=codecs.CODECS) -> tuple[int, str, float]:
        """``(split, codec, predicted seconds)`` with the least predicted latency."""
        options = [
            (self.predict(k, c, link)["total_s"], k, c)
            for c in codec_names
            for k in self.splits()
            if not (k == RAW_SPLIT and c != "fp32")
        ]
        total, split, codec = min(options)
        return split, codec, total

    def cost_fit(self) -> dict[str, float]:
        """Least-squares fit of device seconds for ``l`` layers, ``c(l) = a*l + b``, l = 0..L,
        with ``b >= 0`` (a fixed cost cannot be negative): where timing noise on a loaded
        machine would give ``b < 0``, the constrained optimum is the fit through the origin."""
        dev = self.data["device"]
        layers = np.arange(self.num_layers + 1)
        cost = dev["input_s"] + np.concatenate([[0.0], np.cumsum(dev["layer_s"])])
        a, b = np.polyfit(layers, cost, 1)
        if b < 0:
            a, b = float(layers @ cost / (layers @ layers)), 0.0
        resid = cost - (a * layers + b)
        total = ((cost - cost.mean()) ** 2).sum()
        r2 = 1.0 - float((resid**2).sum() / total) if total > 0 else 1.0
        return {"a_s_per_layer": float(a), "b_s": float(b), "r2": r2}


def _median_tree(items: list):
    """Element-wise median over equally shaped trees of dicts, lists and numbers."""
    first = items[0]
    if isinstance(first, dict):
        return {key: _median_tree([item[key] for item in items]) for key in first}
    if isinstance(first, list):
        return [_median_tree([item[i] for item in items]) for i in range(len(first))]
    return float(np.median(items))
