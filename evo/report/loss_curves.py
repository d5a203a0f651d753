"""Loss curves per task: median and inter-quartile band over seeds, from the stored metrics.

Each evaluation's ``metrics`` may carry ``loss_curve`` (<= 50 floats, the mean training loss
of consecutive equal windows of steps) and ``loss_curve_steps`` (the last step of each
window), see interface 1 of the workers. For one entry on one task the seeds' curves are
aligned by step: at every step ``s`` of the union of their step lists the band is the
median and the 25th / 75th percentiles of the seeds that have a value at ``s`` (a member
that diverged early stops contributing). Evaluations without the keys are skipped; when no
evaluation of a run carries them, the report says so instead of drawing.

Diverged seeds are not hidden: a seed whose evaluation diverged (status ``diverged``; it
completed ``steps_done`` steps, so step ``steps_done + 1`` is the one whose loss was not
finite or over the bound) is marked by a cross at that step on its entry's line, the
entry's legend says "k of n seeds diverged", and past the first divergence the entry's line
is dashed and faded: from there on it is a statistic of the surviving seeds only, which can
look better than the entry is.
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
    diverged_at: tuple[int, ...] = ()
    """The step at which each diverged seed diverged (one per diverged seed, sorted)."""

    @property
    def legend(self) -> str:
        """``"k of n seeds diverged"``, or "" when none did."""
        if not self.diverged_at:
            return ""
        return f"{len(self.diverged_at)} of {self.seeds} seeds diverged"


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


def divergence_step(metrics: Mapping[str, Any] | None) -> int:
    """The 1-based step at which a diverged evaluation diverged: ``steps_done + 1``
    (1 when the metrics do not say)."""
    done = metrics.get("steps_done") if isinstance(metrics, Mapping) else None
    return int(done) + 1 if isinstance(done, int | float) and math.isfinite(done) else 1


def band(
    curves: Sequence[tuple[Sequence[int], Sequence[float]]],
    seeds: int | None = None,
    diverged_at: Sequence[int] = (),
) -> Band:
    """Median and inter-quartile range over curves aligned by step (NaN/inf ignored).

    ``seeds``: the entry's seeds on the task (default: the number of curves; a diverged
    seed may have stored no curve); ``diverged_at``: the divergence step of each diverged seed.
    """
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
    return Band(
        grid,
        list(map(float, median)),
        list(map(float, q25)),
        list(map(float, q75)),
        len(curves) if seeds is None else seeds,
        tuple(sorted(diverged_at)),
    )


def plot_loss_bands(path: Path, bands: Mapping[str, Mapping[str, Band]]) -> Path:
    """:func:`loss_band_figure` written to ``path``."""
    fig = loss_band_figure(bands)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def loss_band_figure(bands: Mapping[str, Mapping[str, Band]]) -> Figure:
    """One panel per task (``bands[task][label]``): median line and IQR band per entry,
    diverged seeds marked (see the module docstring).

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
    diverged: dict[str, list[int]] = {label: [0, 0] for label in labels}  # label: [diverged, seeds]
    for ax, task in zip(axes, tasks, strict=False):
        lows, highs = [], []
        for label, b in bands[task].items():
            diverged[label][0] += len(b.diverged_at)
            diverged[label][1] += b.seeds
            if not b.steps:
                continue
            _draw_band(ax, b, palette[label], 1.6 if label.startswith("evolved") else 1.1)
            lows.append(min(b.q25))
            highs.append(max(b.q75))
        if lows and min(lows) > 0 and max(highs) / min(lows) > 100:
            ax.set_yscale("log")
        notes = [f"{label}: {b.legend}" for label, b in bands[task].items() if b.diverged_at]
        if notes:
            box = {"boxstyle": "round", "facecolor": "white", "alpha": 0.85, "linewidth": 0.5}
            ax.text(0.98, 0.97, "\n".join(notes), transform=ax.transAxes, ha="right", va="top", fontsize=6.5,
                    bbox=box)  # fmt: skip
        ax.set_title(task, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel("training loss", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[len(tasks) :]:
        ax.set_visible(False)
    from matplotlib.lines import Line2D

    def entry(label: str) -> str:
        k, n = diverged[label]
        return f"{label} ({k} of {n} seed runs diverged)" if k else label

    handles = [Line2D([], [], color=palette[label], linewidth=2, label=entry(label)) for label in labels]
    if any(k for k, _ in diverged.values()):
        handles.append(Line2D([], [], marker="x", linestyle="", color="black", label="a seed diverged here"))
    fig.legend(handles=handles, loc="lower center", ncol=min(4, len(handles)), fontsize=7, frameon=False)
    fig.suptitle(
        "Training loss: median over seeds, band = 25th-75th percentile; dashed: after a seed diverged "
        "(surviving seeds only)",
        fontsize=9,
    )
    legend_rows = math.ceil(len(handles) / min(4, len(handles))) if handles else 0
    fig.tight_layout(rect=(0, (0.25 + 0.18 * legend_rows) / (3.2 * rows + 0.6), 1, 1))
    return fig


def _draw_band(ax: Any, b: Band, color: Any, width: float) -> None:
    """The median and IQR of one entry; dashed and faded after its first diverged seed, a
    cross at each divergence step (on the line where it has a value there, else its end)."""
    first = b.diverged_at[0] if b.diverged_at else None
    cut = len(b.steps) if first is None else sum(1 for s in b.steps if s < first)
    solid = slice(0, cut + 1)
    ax.fill_between(b.steps[solid], b.q25[solid], b.q75[solid], color=color, alpha=0.2, linewidth=0)
    ax.plot(b.steps[solid], b.median[solid], color=color, linewidth=width)
    if first is None:
        return
    if cut < len(b.steps):
        ax.plot(b.steps[cut:], b.median[cut:], color=color, linewidth=0.9, linestyle="--", alpha=0.55)
    for step in b.diverged_at:
        before = [i for i, s in enumerate(b.steps) if s <= step]
        i = before[-1] if before else 0
        ax.plot(step, b.median[i], marker="x", color=color, markersize=9, markeredgewidth=2.2, zorder=5)
