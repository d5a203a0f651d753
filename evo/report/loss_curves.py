"""Loss curves per task: median and inter-quartile band over seeds, from the stored metrics.

Each evaluation's ``metrics`` may carry ``loss_curve`` (<= 50 floats, the mean training loss
of consecutive equal windows of steps) and ``loss_curve_steps`` (the last step of each
window), see interface 1 of the workers. For one entry on one task the seeds' curves are
aligned by step: at every step ``s`` of the union of their step lists the band is the
median and the 25th / 75th percentiles of the seeds that have a value at ``s`` (a member
that diverged early stops contributing). Evaluations without the keys are skipped; when no
evaluation of a run carries them, the report says so instead of drawing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np
from matplotlib.figure import Figure

from evo.report.landscape_plots import colors

CURVE_KEY = "loss_curve"
STEPS_KEY = "loss_curve_steps"


@dataclass(frozen=True)
class Band:
    """Median and quartiles of one entry's loss over seeds, at ``steps``."""

    steps: list[int]
    median: list[float]
    q25: list[float]
    q75: list[float]
    seeds: int


def read_curve(metrics: Mapping[str, Any] | None) -> tuple[list[int], list[float]] | None:
    """``(steps, losses)`` from one evaluation's metrics; None when absent or malformed."""
    if not isinstance(metrics, Mapping):
        return None
    curve, steps = metrics.get(CURVE_KEY), metrics.get(STEPS_KEY)
    if not isinstance(curve, list) or not isinstance(steps, list) or not curve or len(curve) != len(steps):
        return None
    try:
        return [int(s) for s in steps], [float(v) for v in curve]
    except (TypeError, ValueError):
        return None


def band(curves: Sequence[tuple[Sequence[int], Sequence[float]]]) -> Band:
    """Median and inter-quartile range over curves aligned by step (NaN/inf ignored)."""
    grid = sorted({int(s) for steps, _ in curves for s in steps})
    index = {s: i for i, s in enumerate(grid)}
    table = np.full((len(curves), len(grid)), np.nan)
    for row, (steps, values) in enumerate(curves):
        for s, v in zip(steps, values, strict=True):
            if math.isfinite(v):
                table[row, index[int(s)]] = v
    keep = ~np.all(np.isnan(table), axis=0)
    table, grid = table[:, keep], [s for s, k in zip(grid, keep, strict=True) if k]
    q25, median, q75 = np.nanpercentile(table, [25, 50, 75], axis=0) if grid else ([], [], [])
    return Band(grid, list(map(float, median)), list(map(float, q25)), list(map(float, q75)), len(curves))


def plot_loss_bands(path: Path, bands: Mapping[str, Mapping[str, Band]]) -> Path:
    """One panel per task (``bands[task][label]``): median line and IQR band per entry.

    The y axis is logarithmic in a panel whose losses are all positive and span more than
    two decades.
    """
    tasks = list(bands)
    cols = min(3, len(tasks))
    rows = math.ceil(len(tasks) / cols)
    fig = Figure(figsize=(4.2 * cols, 3.2 * rows + 0.6))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    labels = list(dict.fromkeys(label for per in bands.values() for label in per))
    palette = colors(labels)
    for ax, task in zip(axes, tasks, strict=False):
        lows, highs = [], []
        for label, b in bands[task].items():
            if not b.steps:
                continue
            c = palette[label]
            ax.fill_between(b.steps, b.q25, b.q75, color=c, alpha=0.2, linewidth=0)
            ax.plot(b.steps, b.median, color=c, linewidth=1.6 if label.startswith("evolved") else 1.1)
            lows.append(min(b.q25))
            highs.append(max(b.q75))
        if lows and min(lows) > 0 and max(highs) / min(lows) > 100:
            ax.set_yscale("log")
        ax.set_title(task, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel("training loss", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[len(tasks) :]:
        ax.set_visible(False)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=palette[label], linewidth=2, label=label) for label in labels]
    fig.legend(handles=handles, loc="lower center", ncol=min(6, len(handles)), fontsize=7, frameon=False)
    fig.suptitle("Training loss: median over seeds, band = 25th-75th percentile", fontsize=10)
    fig.tight_layout(rect=(0, 0.6 / (3.2 * rows + 0.6) + 0.03, 1, 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
