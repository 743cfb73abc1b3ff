"""Start an edge server in a separate process and wait for its ``READY <port>`` line."""

from __future__ import annotations

import contextlib
import os
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence

from gainnet.errors import GainnetError


@contextlib.contextmanager
def spawned_server(
    models: Sequence[str] = ("minilm", "vit"),
    extra_args: Sequence[str] = (),
    prefix: Sequence[str] = (),
    host: str = "127.0.0.1",
    startup_timeout_s: float = 120.0,
) -> Iterator[tuple[str, int]]:
    """Run ``gainnet split serve`` in a child process; yields ``(host, port)``.

    ``prefix`` goes before the interpreter (e.g. ``ip netns exec NAME``). The child runs with
    one torch thread and is terminated on exit.
    """
    command = [
        *prefix, sys.executable, "-m", "gainnet.cli", "split", "serve",
        "--host", host, "--port", "0", "--models", ",".join(models), *extra_args,
    ]  # fmt: skip
    env = os.environ | {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        port = _wait_ready(proc, startup_timeout_s)
        yield host, port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            stream.close()


def _wait_ready(proc: subprocess.Popen, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if sel.select(timeout=0.5):
                line = proc.stdout.readline()
                if line.startswith("READY "):
                    return int(line.split()[1])
                if not line:
                    break
            elif proc.poll() is not None:
                break
    proc.kill()
    stderr = proc.stderr.read() if proc.stderr else ""
    raise GainnetError(f"the edge server did not start: {stderr.strip()[-2000:] or 'no output'}")
