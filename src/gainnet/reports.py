"""One home for outputs: CSV tables, headless figures and JSON results.

Every ``results.json``, CSV and PNG that ``gainnet reproduce``, ``gainnet split sweep`` and
the benchmarks write goes through these helpers, so files are written the same way everywhere
(folders created, strict JSON, figures closed after saving).
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any


def write_csv(rows: Sequence[dict], path: str | Path, columns: Sequence[str] | None = None) -> Path:
    """Write ``rows`` (dicts) to ``path`` with a header; ``columns`` default to the first
    row's keys. Creates the folder."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fields = list(columns) if columns is not None else list(rows[0]) if rows else []
    with out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return out


def read_csv(path: str | Path) -> list[dict[str, str]]:
    """The rows of a CSV written by :func:`write_csv` (values as text)."""
    with Path(path).open(newline="") as fh:
        return list(csv.DictReader(fh))


def _strict(value: Any) -> Any:
    """``value`` with NumPy scalars as Python numbers and NaN or infinities as ``None``."""
    if isinstance(value, dict):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_text(value: Any) -> str:
    """``value`` as indented, strict JSON (NumPy scalars as numbers, NaN as null)."""
    return json.dumps(_strict(value), indent=2, allow_nan=False)


def write_json(value: Any, path: str | Path) -> Path:
    """Write :func:`json_text` of ``value`` to ``path`` (creates the folder)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json_text(value) + "\n")
    return out


@contextlib.contextmanager
def figure(
    path: str | Path,
    nrows: int = 1,
    ncols: int = 1,
    figsize: tuple[float, float] = (7.0, 4.5),
    dpi: int = 120,
    title: str | None = None,
    **subplots: Any,
) -> Iterator[tuple[Any, Any]]:
    """``with figure(path, 1, 2) as (fig, axes): ...``: a headless matplotlib figure, laid
    out, saved to ``path`` and closed when the block ends (not saved if it raises)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, **subplots)
    try:
        yield fig, axes
        if title:
            fig.suptitle(title, fontsize=10)
        fig.tight_layout()
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=dpi)
    finally:
        plt.close(fig)


def plot_learning_curves(
    rows: Iterable[dict],
    path: str | Path,
    title: str,
    x: str = "train_seconds",
    y: str = "ratio",
    references: dict[str, float] | None = None,
    log_x: bool = False,
    log_y: bool = False,
) -> Path:
    """One line per ``row["solver"]`` of ``y`` against ``x``; dashed horizontal references."""
    by_solver: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        by_solver.setdefault(row["solver"], []).append((float(row[x]), float(row[y])))
    with figure(path) as (_, ax):
        for solver, points in by_solver.items():
            points.sort()
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", ms=3, label=solver)
        for label, value in (references or {}).items():
            ax.axhline(value, ls="--", lw=1, color="grey")
            ax.annotate(label, (ax.get_xlim()[1], value), ha="right", va="bottom", fontsize=8)
        if log_x:
            ax.set_xscale("log")
        if log_y:
            ax.set_yscale("log")
        ax.set_xlabel(x.replace("_", " "))
        ax.set_ylabel(y.replace("_", " "))
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    return Path(path)
