"""The report's figures: pure functions from plain numbers to one PNG file each.

Every function draws on its own :class:`matplotlib.figure.Figure` (rendered by the Agg
canvas, no pyplot global state, no display needed), writes ``path`` and returns it.
Inputs are plain sequences and mappings, so the figures can be drawn and tested without a
database.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")  # headless, before anything may import pyplot

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from optimizers.rule import TERM_NAMES

DPI = 110


def _save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    return path


def _running_max(values: Sequence[float]) -> list[float]:
    """Running maximum that skips NaN (NaN until the first number)."""
    out, top = [], math.nan
    for v in values:
        if not math.isnan(v) and (math.isnan(top) or v > top):
            top = v
        out.append(top)
    return out


def plot_fitness(
    path: Path,
    generations: Sequence[int],
    best: Sequence[float],
    mean: Sequence[float],
    std: Sequence[float],
    fixed: Mapping[str, float],
) -> Path:
    """Best and mean (+- std) fitness per generation; each fixed entry as a horizontal line.

    The best-so-far curve is the running maximum of ``best``.
    """
    fig = Figure(figsize=(8, 4.8))
    ax = fig.subplots()
    best_so_far = _running_max(best)
    lower = [m - s for m, s in zip(mean, std, strict=True)]
    upper = [m + s for m, s in zip(mean, std, strict=True)]
    ax.fill_between(generations, lower, upper, color="tab:blue", alpha=0.15, label="mean ± std")
    ax.plot(generations, mean, color="tab:blue", marker=".", label="mean")
    ax.plot(generations, best, color="tab:red", marker="o", label="best of generation")
    ax.plot(generations, best_so_far, color="tab:red", linestyle=":", label="best so far")
    colors = matplotlib.colormaps["Dark2"]  # no blue or red: those are the population's curves
    for i, (name, value) in enumerate(sorted(fixed.items(), key=lambda kv: -kv[1])):
        ax.axhline(value, linestyle="--", linewidth=1, color=colors(i % 8), label=f"{name} (fixed)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("generation")
    ax.set_ylabel("fitness (higher is better)")
    ax.set_title("Fitness per generation")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return _save(fig, path)


def plot_per_task(
    path: Path,
    tasks: Sequence[str],
    entries: Mapping[str, Mapping[str, float]],
    fixed: Collection[str] = (),
) -> Path:
    """Grouped bars: one group per task, one bar per entry (top genomes and fixed entries).

    ``entries`` maps a label to its per-task fitness; a task an entry lacks is left out.
    Labels in ``fixed`` (the fixed comparison entries) are drawn hatched.
    """
    fig = Figure(figsize=(max(6.0, 1.6 * len(tasks) + 3), 4.8))
    ax = fig.subplots()
    n = max(1, len(entries))
    width = 0.8 / n
    colors = matplotlib.colormaps["tab20"]
    for i, (label, per_task) in enumerate(entries.items()):
        xs = [t + (i - (n - 1) / 2) * width for t, task in enumerate(tasks) if task in per_task]
        ys = [per_task[task] for task in tasks if task in per_task]
        hatch = "//" if label in fixed else None
        name = f"{label} (fixed)" if label in fixed else label
        ax.bar(xs, ys, width=width, color=colors(i % 20), hatch=hatch, edgecolor="white", label=name)
    ax.set_xticks(range(len(tasks)), list(tasks), rotation=20, ha="right")
    ax.set_ylabel("task fitness (mean over seeds)")
    ax.set_title("Per-task fitness: top genomes vs fixed entries")
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return _save(fig, path)


def plot_term_weights(path: Path, generations: Sequence[int], weights: Sequence[Sequence[float]]) -> Path:
    """The canonical weight of every primitive term in each generation's best genome.

    ``weights[i]`` is the dense weight vector (index = term value, the extended terms included)
    of generation ``generations[i]``.
    Terms that are zero throughout are omitted.
    """
    fig = Figure(figsize=(8, 4.8))
    ax = fig.subplots()
    colors = matplotlib.colormaps["tab10"]
    for j, name in enumerate(TERM_NAMES):
        series = [row[j] for row in weights]
        if any(w != 0.0 for w in series):
            ax.plot(generations, series, marker="o", color=colors(j), label=name)
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("generation")
    ax.set_ylabel("term weight (canonical form)")
    ax.set_title("Best genome's term weights over the generations")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return _save(fig, path)


def plot_diversity(
    path: Path, generations: Sequence[int], distinct: Sequence[int], sizes: Sequence[int]
) -> Path:
    """Distinct canonical genome hashes per generation, against the population size."""
    fig = Figure(figsize=(8, 4.2))
    ax = fig.subplots()
    ax.bar(generations, sizes, color="lightgray", label="population size")
    ax.set_ylim(0, 1.3 * max(sizes, default=1))  # room for the legend
    ax.bar(generations, distinct, color="tab:green", width=0.5, label="distinct canonical hashes")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("generation")
    ax.set_ylabel("genomes")
    ax.set_title("Population diversity")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_loss_curves(
    path: Path, curves: Sequence[tuple[str, Sequence[int], Sequence[float], Sequence[int]]]
) -> Path:
    """Training-loss curves, each with its escape events as vertical marks.

    ``curves`` holds ``(label, steps, losses, escape_steps)``: ``losses[i]`` is the loss at
    step ``steps[i]`` and each escape step is marked on the curve (linearly interpolated
    between its points). The loss axis is logarithmic when all losses are positive.
    """
    fig = Figure(figsize=(8, 4.8))
    ax = fig.subplots()
    colors = matplotlib.colormaps["tab10"]
    positive = True
    for i, (label, steps, losses, escapes) in enumerate(curves):
        color = colors(i % 10)
        label = f"{label} ({len(escapes)} escapes)"
        ax.plot(steps, losses, color=color, linewidth=1, label=label)
        positive = positive and all(v > 0 for v in losses)
        for step in escapes:
            ax.axvline(step, color=color, linestyle=":", alpha=0.6)
        inside = [s for s in escapes if steps and steps[0] <= s <= steps[-1]]
        marks = [(s, float(np.interp(s, steps, losses))) for s in inside]
        if marks:
            ax.scatter(*zip(*marks, strict=True), color=color, marker="v", zorder=3)
    if positive and curves:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title("ALME: loss curves with escape events (▼)")
    ax.grid(alpha=0.3)
    if curves:
        ax.legend(fontsize=7)
    return _save(fig, path)
