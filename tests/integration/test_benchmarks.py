"""Every benchmark runs end to end with ``--quick`` (slow layer): a smoke run of each code
path into a temporary folder, leaving the committed results untouched."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = sorted(
    p.stem for p in (ROOT / "benchmarks").glob("*.py") if p.stem not in ("__init__", "common")
)
#: extra arguments that keep a quick run short where --quick alone is minutes
EXTRA = {
    "power_allocation_learning": ["--seconds", "2", "--solvers", "gdm,sac,uniform"],
    "split_inference": ["--parts", "noise,fidelity,latency,concurrency", "--rates", "50"],
}

pytestmark = pytest.mark.slow


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def test_every_benchmark_is_found():
    assert "split_inference" in BENCHMARKS and "incentive_ceiling" in BENCHMARKS


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_runs_quick(name, tmp_path):
    committed = _digest(ROOT / "benchmarks")
    env = os.environ | {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    args = [sys.executable, "-m", f"benchmarks.{name}", "--quick", "--out", str(tmp_path)]
    result = subprocess.run(
        [*args, *EXTRA.get(name, [])],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    written = [p for p in tmp_path.rglob("*") if p.suffix in (".csv", ".json")]
    assert written, f"{name} wrote no results into --out"
    assert _digest(ROOT / "benchmarks") == committed, f"{name} wrote into benchmarks/"
