"""Start an edge server in a separate process and wait for its ``READY <port>`` line."""

from __future__ import annotations

import contextlib
import os
import selectors
import subprocess
import sys
import tempfile
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
    one torch thread; its stderr goes to a temporary file (a pipe nobody reads could fill and
    block it) and is quoted if it fails to start or dies while in use. It is terminated on exit.
    """
    command = [
        *prefix, sys.executable, "-m", "gainnet.cli", "split", "serve",
        "--host", host, "--port", "0", "--models", ",".join(models), *extra_args,
    ]  # fmt: skip
    env = os.environ | {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        try:
            port = _wait_ready(proc, startup_timeout_s)
            if port is None:
                proc.kill()
                proc.wait()
                raise GainnetError(f"the edge server did not start: {_tail(log) or 'no output'}")
            yield host, port
            if proc.poll() is not None:
                raise GainnetError(f"the edge server died while in use: {_tail(log)}")
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            proc.stdout.close()


def _tail(log, chars: int = 2000) -> str:
    log.flush()
    log.seek(0)
    return log.read().strip()[-chars:]


def _wait_ready(proc: subprocess.Popen, timeout_s: float) -> int | None:
    """The port from the child's ``READY <port>`` line, or ``None`` if it never comes."""
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if sel.select(timeout=0.5):
                line = proc.stdout.readline()
                if line.startswith("READY "):
                    return int(line.split()[1])
                if not line:
                    return None
            elif proc.poll() is not None:
                return None
    return None
