"""Every example runs with --quick."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.py"))
#: a guard against a hang, not a speed requirement (a loaded 2-core machine is slow)
HANG_GUARD_S = 1200


@pytest.mark.timeout(HANG_GUARD_S + 60)
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_quick(path):
    proc = subprocess.run(
        [sys.executable, str(path), "--quick"],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "ratio" in proc.stdout


def test_there_are_examples():
    assert EXAMPLES
