"""Kernel-shaped links: the edge server in its own network namespace behind a shaped veth pair.

The device stays in the caller's namespace; the server runs in a fresh namespace joined to it
by a veth pair whose two ends carry a ``tc`` qdisc. With ``netem`` the kernel applies both the
rate and the delay; where the kernel lacks ``netem`` (seen on some sandboxes), ``tbf`` shapes the
rate and the transport adds the RTT, and the report says so. Needs root and ``ip``/``tc``;
:func:`kernel_link_support` says whether this machine can and why not.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field

from gainnet.errors import GainnetError
from gainnet.split.link import Link


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and result.returncode:
        raise GainnetError(f"`ip {' '.join(args)}` failed: {result.stderr.strip()}")
    return result


def kernel_link_support() -> tuple[bool, str]:
    """``(True, "")`` if namespaces and tc can be used here, else ``(False, reason)``."""
    if os.name != "posix" or os.geteuid() != 0:
        return False, "needs root"
    if not shutil.which("ip") or not shutil.which("tc"):
        return False, "needs iproute2 (ip, tc)"
    name = f"gainnet-probe-{os.getpid()}"
    probe = _ip("netns", "add", name, check=False)
    if probe.returncode:
        return False, f"cannot create a network namespace: {probe.stderr.strip()}"
    _ip("netns", "del", name, check=False)
    return True, ""


@dataclass
class KernelLink:
    """A namespace with a veth pair to the caller's namespace. Use :func:`kernel_link`."""

    namespace: str
    host_dev: str
    peer_dev: str
    host_ip: str
    server_ip: str
    _has_qdisc: set = field(default_factory=set)

    @property
    def prefix(self) -> list[str]:
        """Command prefix that runs a program inside the server's namespace."""
        return ["ip", "netns", "exec", self.namespace]

    def shape(self, link: Link) -> tuple[Link, str]:
        """Shape both directions for ``link``; returns what the transport must still emulate
        and a description of who shapes what."""
        if link.bandwidth_mbps is None and link.rtt_ms == 0:
            for where in list(self._has_qdisc):
                self._tc(where, "del", [])
            return Link(), "none"
        rate = f"{link.bandwidth_mbps}mbit" if link.bandwidth_mbps is not None else None
        netem = ["netem", "delay", f"{link.rtt_ms / 2}ms", "limit", "100000"]
        if rate:
            netem += ["rate", rate]
        if all(self._tc(where, "replace", netem, check=False) for where in ("host", "peer")):
            return Link(), "kernel netem (rate and delay)"
        if rate is None:
            return Link(None, link.rtt_ms), "transport delay (no netem in this kernel)"
        # one MTU-sized frame, or 1 ms at the rate: a larger bucket lets a request's first
        # bytes through at line rate and the link looks faster than its rate for small frames
        burst = max(1600, int(link.bandwidth_mbps * 1e6 / 8 * 0.001))
        tbf = ["tbf", "rate", rate, "burst", str(burst), "latency", "5s"]
        for where in ("host", "peer"):
            self._tc(where, "replace", tbf)
        return Link(
            None, link.rtt_ms
        ), "kernel tbf (rate); transport delay (no netem in this kernel)"

    def _tc(self, where: str, verb: str, qdisc: list[str], check: bool = True) -> bool:
        prefix = [] if where == "host" else ["ip", "netns", "exec", self.namespace]
        dev = self.host_dev if where == "host" else self.peer_dev
        cmd = [*prefix, "tc", "qdisc", verb, "dev", dev, "root", *qdisc]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode:
            if check:
                raise GainnetError(f"`{' '.join(cmd)}` failed: {result.stderr.strip()}")
            return False
        if verb == "del":
            self._has_qdisc.discard(where)
        else:
            self._has_qdisc.add(where)
        return True


@contextlib.contextmanager
def kernel_link() -> Iterator[KernelLink]:
    """Create the namespace and veth pair; delete both on exit (also on error)."""
    ok, reason = kernel_link_support()
    if not ok:
        raise GainnetError(f"kernel-shaped links are not available here: {reason}")
    tag = os.getpid() % 100_000
    subnet = f"10.213.{tag % 250}"
    kl = KernelLink(f"gainnet-{tag}", f"gnh{tag}", f"gns{tag}", f"{subnet}.1", f"{subnet}.2")
    _ip("netns", "add", kl.namespace)
    try:
        _ip("link", "add", kl.host_dev, "type", "veth", "peer", "name", kl.peer_dev)
        _ip("link", "set", kl.peer_dev, "netns", kl.namespace)
        _ip("addr", "add", f"{kl.host_ip}/24", "dev", kl.host_dev)
        _ip("-n", kl.namespace, "addr", "add", f"{kl.server_ip}/24", "dev", kl.peer_dev)
        _ip("link", "set", kl.host_dev, "up")
        _ip("-n", kl.namespace, "link", "set", kl.peer_dev, "up")
        _ip("-n", kl.namespace, "link", "set", "lo", "up")
        yield kl
    finally:
        _ip("netns", "del", kl.namespace, check=False)
        _ip("link", "del", kl.host_dev, check=False)
