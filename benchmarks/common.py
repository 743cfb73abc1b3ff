"""What every benchmark shares: its options (``--quick``, ``--out``) and what it records
beside its numbers (commit, machine).

Benchmarks are modules of the ``benchmarks`` package, run from the repository root as
``python -m benchmarks.<name>``; ``--quick`` runs every code path at tiny sizes (a smoke run
whose numbers are not for the docs), ``--out`` says where results go (default
``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import platform
import subprocess
from pathlib import Path

from gainnet import reports

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def parser(doc: str) -> argparse.ArgumentParser:
    """An argument parser described by the first line of ``doc``, with ``--quick`` and
    ``--out``."""
    out = argparse.ArgumentParser(description=doc.splitlines()[0])
    out.add_argument(
        "--quick", action="store_true", help="tiny sizes: a smoke run, not numbers for the docs"
    )
    out.add_argument("--out", type=Path, default=RESULTS, help="folder for the results")
    return out


def figures_dir(out: Path) -> Path:
    """Where figures go: ``benchmarks/figures`` beside the default results, else ``out``."""
    return HERE / "figures" if Path(out).resolve() == RESULTS else Path(out)


def commit() -> str:
    """Short commit of the benchmarked tree, ``-dirty`` when tracked files differ from it."""
    try:

        def git(*args: str) -> str:
            return subprocess.run(
                ["git", *args], capture_output=True, text=True, cwd=HERE, check=True
            ).stdout.strip()

        dirty = git("status", "--porcelain", "--untracked-files=no")
        return git("rev-parse", "--short", "HEAD") + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> str:
    """CPU, core count and Python version of this machine."""
    import os

    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} cores, python {platform.python_version()}"


def save_rows(rows: list[dict], path: Path) -> Path:
    """Write ``rows`` (dicts with the same keys) to the CSV ``path``; returns ``path``."""
    return reports.write_csv(rows, path)
