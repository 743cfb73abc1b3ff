"""Every command the README shows runs (slow layer), and so does every line of `make demo`.

Commands come from the README's ``bash`` blocks, with continuation lines joined and comments
dropped; an optional part in brackets (``[--json]``) is run included, except ``--kernel-link``
(root and network namespaces), run without. ``PORT`` is the port of a ``gainnet split serve``
started from the README's own line. ``make test`` is what runs this file; ``make demo`` is
expanded into the recipe lines of the Makefile's ``demo`` target. Each command runs in a
temporary working directory holding links to the repository's configs and examples and a copy
of its benchmarks, so relative output paths (``runs/...``, ``benchmarks/results``) never touch
the checkout.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gainnet.split.spawn import _wait_ready

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
#: a guard against hangs, not a speed requirement
HANG_GUARD_S = 1200
NOT_HERE = ("--kernel-link",)

pytestmark = pytest.mark.slow


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                commands.append(line)
    return commands


def demo_commands() -> list[str]:
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^demo:.*?\n((?:\t.*\n)+)", makefile, flags=re.M).group(1)
    recipe = re.sub(r"\\\n\s*", " ", recipe)
    lines = [line.strip() for line in recipe.splitlines()]
    return [line.replace("$(BIN)/", "") for line in lines if line and not line.startswith("@")]


def expand(command: str) -> str:
    def optional(match):
        inner = match.group(1)
        return "" if inner in NOT_HERE else inner

    return re.sub(r"\[([^\]]+)\]", optional, command)


COMMANDS = [c for c in readme_commands() if not c.startswith("make ")]
DEMO = demo_commands()
SERVE = next(c for c in COMMANDS if c.startswith("gainnet split serve"))
#: commands another test already runs exactly (those tests say so); not run twice
ELSEWHERE = {
    "gainnet reproduce aigx --quick": "tests/quality/test_reproduce_aigx.py",
    "gainnet reproduce csi-feedback --quick": "tests/quality/test_reproduce_csi_feedback.py",
    "python examples/": "tests/integration/test_examples.py (every example with --quick)",
}
TO_RUN = [
    c
    for c in dict.fromkeys([*COMMANDS, *DEMO])
    if c != SERVE and not any(c.startswith(prefix) for prefix in ELSEWHERE)
]


def test_the_readme_shows_the_two_commands_and_the_demo_has_lines():
    assert {"make demo", "make test"} <= {c.split("#")[0].strip() for c in readme_commands()}
    assert len(DEMO) >= 3 and len(COMMANDS) >= 10
    assert all(not c.endswith("\\") for c in DEMO + COMMANDS)


def test_what_is_run_elsewhere_is_run_there():
    for prefix, where in ELSEWHERE.items():
        path = ROOT / where.split(" ")[0]
        text = path.read_text()
        assert prefix.split()[-1].strip("/") in text or "examples" in text, where


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("readme")
    for name in ("configs", "examples"):
        (path / name).symlink_to(ROOT / name)
    # a copy, not a link: a README benchmark line writes its CSV and figure under benchmarks/,
    # which must not overwrite the measured results in the checkout
    shutil.copytree(
        ROOT / "benchmarks", path / "benchmarks", ignore=shutil.ignore_patterns("__pycache__")
    )
    return path


@pytest.fixture(scope="module")
def port(workdir):
    """A server started with the README's own `split serve` line."""
    args = shlex.split(SERVE)
    proc = subprocess.Popen(
        [str(BIN / args[0]), *args[1:]],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=os.environ | {"OMP_NUM_THREADS": "1"},
    )
    try:
        found = _wait_ready(proc, 300)
        assert found, "the README's split serve never printed READY"
        yield found
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()


def run(command: str, workdir: Path, port: int) -> subprocess.CompletedProcess:
    args = shlex.split(expand(command).replace("PORT", str(port)))
    executable = BIN / args[0] if (BIN / args[0]).exists() else args[0]
    env = os.environ | {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [str(executable), *args[1:]],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
    )


@pytest.mark.timeout(HANG_GUARD_S + 60)
@pytest.mark.parametrize("command", TO_RUN, ids=lambda c: c[:60])
def test_command_runs(command, workdir, port):
    if command.startswith("gainnet evaluate") and not (workdir / "runs" / "gdm").exists():
        train = next(c for c in COMMANDS if c.startswith("gainnet train"))
        assert run(train, workdir, port).returncode == 0  # the README's order: train first
    result = run(command, workdir, port)
    assert result.returncode == 0, f"{command}\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr


@pytest.mark.timeout(HANG_GUARD_S + 60)
def test_the_cycle_command_the_readme_names(workdir, port):
    """`gainnet cycle configs/aigx-cycle.toml --json` prints strict JSON to the end."""
    import json

    result = run("gainnet cycle configs/aigx-cycle.toml --json", workdir, port)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout)
    assert len(out["rounds"]) == 30 and all(isinstance(r["promoted"], bool) for r in out["rounds"])
