"""What every benchmark records beside its numbers: commit, threads, machine."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent


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
    import csv

    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path
