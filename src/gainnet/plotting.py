"""Figures (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_solver: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        by_solver.setdefault(row["solver"], []).append((float(row[x]), float(row[y])))
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
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
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
