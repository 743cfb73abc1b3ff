"""Online calibration of the latency model from live requests.

A :class:`~gainnet.split.latency.SplitProfile` times every stage in a tight loop. Live requests
run differently: the server computes after idling while the device worked and the link carried
the activation, the device after idling on the reply, and on a shared machine the speed drifts
over minutes. On the 2-core reference machine live compute mostly ran 0-30 % slower than
profiled (by an amount that changed from run to run), so a tight-loop profile underestimates
latency, most where compute dominates (a slow device); ``device_factor`` and ``server_factor``
in every ``gainnet split sweep`` row show what this machine does.

:class:`OnlineCalibration` keeps one speed factor per side, the ratio of the exponentially
weighted sums of measured and of profiled compute seconds over recent requests (live seconds
per profiled second: a request with more compute says more about the speed, and a small fixed
cost the profile misses does not inflate the factor), and scales the profile's compute terms by
it; the network terms are left alone. It is online in the strict sense: a
prediction is made before its request is sent and the request is observed only afterwards, so
a prediction never uses the measurement it is compared with.
"""

from __future__ import annotations

import math

from gainnet.errors import GainnetError
from gainnet.split.latency import SplitProfile
from gainnet.split.link import Link

SIDES = ("device", "server")


class OnlineCalibration:
    """Per-side speed factors learned from live requests, applied to ``profile``.

    Parameters
    ----------
    profile:
        The measured stage times the factors scale.
    halflife_requests:
        Requests after which an observation's weight halves (> 0).
    """

    def __init__(self, profile: SplitProfile, halflife_requests: float = 10.0) -> None:
        if not (isinstance(halflife_requests, int | float) and halflife_requests > 0):
            raise GainnetError(f"halflife_requests must be > 0, got {halflife_requests!r}")
        self.profile = profile
        self.halflife_requests = float(halflife_requests)
        self._decay = 0.5 ** (1.0 / self.halflife_requests)
        self._measured = dict.fromkeys(SIDES, 0.0)
        self._profiled = dict.fromkeys(SIDES, 0.0)
        self.observed = 0

    def factors(self) -> dict[str, float]:
        """``{"device": f, "server": f}``: live compute / profiled compute (1 before any data)."""
        return {
            side: self._measured[side] / self._profiled[side] if self._profiled[side] else 1.0
            for side in SIDES
        }

    def predict(self, split: int, codec: str, link: Link) -> dict[str, float]:
        """The profile's prediction (seconds by part) with compute scaled by :meth:`factors`."""
        parts = dict(self.profile.predict(split, codec, link))
        factors = self.factors()
        parts["device_s"] *= factors["device"]
        parts["server_s"] *= factors["server"]
        parts["total_s"] = sum(v for k, v in parts.items() if k != "total_s")
        return parts

    def observe(self, split: int, codec: str, device_s: float, server_s: float) -> None:
        """Learn from one finished request: measured device and server compute seconds.

        ``device_s`` includes any emulated slowdown (the profile's device times do too). A side
        with no profiled compute at this split (the device at the raw split) is not updated.
        """
        measured = {"device": device_s, "server": server_s}
        for side, value in measured.items():
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise GainnetError(f"measured {side} seconds must be finite and >= 0, got {value}")
        profiled = {
            "device": self.profile.device_s(split, codec),
            "server": self.profile.server_s(split, codec),
        }
        for side in SIDES:
            if profiled[side] <= 0 or measured[side] <= 0:
                continue
            self._measured[side] = self._decay * self._measured[side] + measured[side]
            self._profiled[side] = self._decay * self._profiled[side] + profiled[side]
        self.observed += 1
