"""Flower's Deployment Engine on loopback: a SuperLink and one SuperNode per site, each a
separate process, and the run submitted with ``flwr run`` like any Flower app.

:func:`run_flower_deployment` writes a tiny Flower app (a ``pyproject.toml`` naming
gainnet's ``ServerApp`` and ``ClientApp``) and a Flower configuration (``FLWR_HOME``) into a
work folder, starts ``flower-superlink --insecure`` on a free loopback port and
``flower-supernode --node-config "partition-id=i num-partitions=N"`` per site, submits the
run (the federation config travels as the run config's ``federation`` string), waits for the
``ServerApp`` to write its result, and stops every process it started, also on errors.
SuperLink and SuperNodes start each app in a subprocess (``flwr-serverapp``,
``flwr-clientapp``), so every message a site handles pays a Python start-up: this engine
shows that the code runs across processes over Flower's transport, not how fast it can.
Runtime dependency installation is disabled (no network is needed).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gainnet.errors import GainnetError
from gainnet.federated.config import FederationConfig
from gainnet.federated.flower_engine import require_flower

APP_PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "gainnetfederation"
version = "1.0.0"
dependencies = []

[tool.flwr.app]
publisher = "gainnet"

[tool.flwr.app.components]
serverapp = "gainnet_flower_app:server_app"
clientapp = "gainnet_flower_app:client_app"

[tool.flwr.app.config]
federation = ""
result-path = ""
model-dir = ""
"""

APP_MODULE = """\
from gainnet.federated.flower_engine import make_client_app, make_server_app

client_app = make_client_app()
server_app = make_server_app(engine="flower-deployment")
"""

#: seconds for the SuperLink and SuperNodes to start listening
START_TIMEOUT_S = 60.0


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise GainnetError(f"a Flower process exited at start-up; see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise GainnetError(f"a Flower process did not listen on port {port}; see {log}")


def processes_of(home: Path) -> list[int]:
    """Live processes whose environment names ``FLWR_HOME=home``: everything the run started,
    including app processes Flower starts in sessions of their own (Linux ``/proc``)."""
    marker = f"FLWR_HOME={home}".encode() + b"\0"
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in environ + b"\0" and state != "Z":
            found.append(int(pid))
    return found


def _stop_all(processes: list[subprocess.Popen], home: Path) -> None:
    """Stop the launched processes, then any process of this run's Flower home left behind."""
    _stop(processes)
    deadline = time.monotonic() + 10.0
    while (left := processes_of(home)) and time.monotonic() < deadline:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)


def _stop(processes: list[subprocess.Popen]) -> None:
    """SIGTERM every process group, then SIGKILL what is left after 5 s."""
    for process in processes:
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 5.0
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def run_flower_deployment(
    config: FederationConfig,
    work_dir: str | Path | None = None,
    timeout_s: float = 1800.0,
    model_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Run the federation on Flower's Deployment Engine over loopback; returns
    :meth:`FederatedServer.result` with ``engine = "flower-deployment"``. ``work_dir`` keeps
    the app, the Flower home and every process's log (a temporary folder, removed after a
    successful run, when None)."""
    require_flower()
    import tomli_w

    bin_dir = Path(sys.executable).parent
    for tool in ("flower-superlink", "flower-supernode", "flwr"):
        if not (bin_dir / tool).exists():
            raise GainnetError(f"{tool} is not installed beside {sys.executable}")
    keep = work_dir is not None
    root = Path(work_dir) if keep else Path(tempfile.mkdtemp(prefix="gainnet-flower-"))
    app = root / "app"
    home = root / "flwr-home"
    logs = root / "logs"
    for folder in (app, home, logs):
        folder.mkdir(parents=True, exist_ok=True)
    (app / "pyproject.toml").write_text(APP_PYPROJECT)
    (app / "gainnet_flower_app.py").write_text(APP_MODULE)
    result_path = (root / "result.json").resolve()
    result_path.unlink(missing_ok=True)
    (root / "run-config.toml").write_text(
        tomli_w.dumps(
            {
                "federation": config.to_json(),
                "result-path": str(result_path),
                "model-dir": "" if model_dir is None else str(Path(model_dir).resolve()),
            }
        )
    )
    link_port = free_port()
    (home / "config.toml").write_text(
        tomli_w.dumps(
            {
                "superlink": {
                    "default": "gainnet",
                    "gainnet": {"address": f"127.0.0.1:{link_port}", "insecure": True},
                }
            }
        )
    )
    env = {
        **os.environ,
        "FLWR_HOME": str(home.resolve()),
        "OMP_NUM_THREADS": "1",
        # Flower starts its helpers (flower-superexec, flwr-serverapp, ...) by name
        "PATH": os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")]),
    }
    processes: list[subprocess.Popen] = []

    def start(args: list[str], log_name: str) -> subprocess.Popen:
        log = logs / log_name
        with open(log, "wb") as handle:
            process = subprocess.Popen(
                args,
                stdout=handle,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=root,
                start_new_session=True,  # its own process group: stopped with its children
            )
        processes.append(process)
        return process

    try:
        superlink = start(
            [
                str(bin_dir / "flower-superlink"),
                "--insecure",
                "--port",
                str(link_port),
                "--disable-runtime-dependency-installation",
            ],
            "superlink.log",
        )
        _wait_listening(link_port, superlink, logs / "superlink.log")
        n = len(config.sites)
        for i in range(n):
            port = free_port()
            node = start(
                [
                    str(bin_dir / "flower-supernode"),
                    "--insecure",
                    "--superlink",
                    f"127.0.0.1:{link_port}",
                    "--port",
                    str(port),
                    "--node-config",
                    f"partition-id={i} num-partitions={n}",
                ],
                f"supernode-{i}.log",
            )
            _wait_listening(port, node, logs / f"supernode-{i}.log")
        run = start(
            [
                str(bin_dir / "flwr"),
                "run",
                str(app),
                "gainnet",
                "--run-config",
                str(root / "run-config.toml"),
                "--stream",
            ],
            "flwr-run.log",
        )
        deadline = time.monotonic() + timeout_s
        while not result_path.exists():
            if time.monotonic() > deadline:
                raise GainnetError(f"the deployment run took over {timeout_s:.0f} s; see {logs}")
            if run.poll() is not None and not result_path.exists():
                time.sleep(1.0)  # the result may land just after the stream ends
                if not result_path.exists():
                    raise GainnetError(f"the Flower run ended without a result; see {logs}")
            time.sleep(0.5)
        time.sleep(0.2)  # let the ServerApp finish writing
        result = json.loads(result_path.read_text())
    finally:
        _stop_all(processes, home.resolve())
    if not keep:
        shutil.rmtree(root, ignore_errors=True)
    return result
