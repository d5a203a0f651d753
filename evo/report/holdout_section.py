"""The report's section on held-out fitness: the best genome per generation, training against
held-out F (numbers from :mod:`evo.evidence.holdout_results`), as a table and one figure."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from evo.evidence.holdout_results import train_vs_holdout
from evo.report import plots
from evo.report.model import Figure, Section, Table, Text, note

if TYPE_CHECKING:
    from optimizers.genome import Genome
    from storage import Store
    from storage.records import RunRecord

FIGURE = "holdout.png"


def plot_train_vs_holdout(path: Path, series: Sequence[tuple[int, float, float]]) -> Path:
    """Training and held-out fitness of the best genome per generation (one PNG)."""
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=(8, 4.2))
    ax = fig.subplots()
    gens = [s[0] for s in series]
    ax.plot(gens, [s[1] for s in series], marker="o", label="training tasks (selected on)")
    ax.plot(gens, [s[2] for s in series], marker="s", label="held-out tasks (never selected on)")
    ax.set_xlabel("generation")
    ax.set_ylabel("fitness of the generation's best genome")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=plots.DPI)
    return path


def holdout_section(
    out: Path, store: Store, run: RunRecord, trace: Sequence[tuple[int, float, Genome]]
) -> Section:
    """The report's section (and its figure) on held-out fitness."""
    title = "Training vs held-out fitness"
    if not run.scope.holdout_tasks:
        return note(title, "This run has no held-out tasks (`holdout_tasks:` in the config).")
    series = train_vs_holdout(store, run, trace)
    if not series:
        return note(title, "No evaluated generation yet.")
    plot_train_vs_holdout(out / FIGURE, series)
    text = Text(
        f"Held-out tasks: {', '.join(run.scope.holdout_tasks)} (budget `{run.scope.holdout_budget_key}`), "
        "scored for the best genomes of each generation, never used for selection. A widening gap "
        "means the search overfits its training tasks."
    )
    rows = tuple((str(g), _fmt(t), _fmt(h)) for g, t, h in series)
    table = Table(("generation", "training", "held-out"), rows, ("r", "r", "r"))
    return Section(title, [text, table], [Figure(FIGURE, "training vs held-out fitness per generation")])


def _fmt(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{x:.4f}"
