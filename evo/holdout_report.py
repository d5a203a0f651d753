"""Reading a run's held-out results: ``evo best RUN --holdout`` and the report's
training-vs-held-out figure.

Held-out fitness of an entry is :mod:`evo.fitness`'s F over the run's ``holdout_tasks`` and
seeds under the held-out budget key (:mod:`evo.holdout`). Only entries that were scored on
the held-out tasks (each generation's top-k and the fixed entries) are ranked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from evo.errors import UsageError
from evo.fitness import score_totals
from evo.ranking import RankedEntry, rank_entries

if TYPE_CHECKING:
    from optimizers.genome import Genome
    from storage import Store
    from storage.records import RunRecord

FIGURE = "holdout.png"


def require_holdout(run: RunRecord) -> tuple[list[str], str]:
    """The run's held-out tasks and budget key; UsageError when it has none."""
    scope = run.scope
    if not scope.holdout_tasks or not scope.holdout_budget_key:
        raise UsageError(f"run {run.name!r} has no holdout_tasks; set holdout_tasks: in its config")
    return list(scope.holdout_tasks), scope.holdout_budget_key


def best_holdout(
    store: Store, run: RunRecord, top_k: int | None = None, fixed_too: bool = False
) -> list[RankedEntry]:
    """The run's held-out-scored entries ranked by held-out fitness, best first
    (``top_k``, ``fixed_too``: as :func:`evo.ranking.rank_entries`)."""
    tasks, key = require_holdout(run)
    entries = store.run_entries(run.id)
    scored = {t.entry_key for t in store.task_totals([], key, tasks, run.scope.seeds, run.id)}
    return rank_entries(
        store, [e for e in entries if e.entry_key in scored], key, tasks, run.scope.seeds, top_k, fixed_too
    )


def holdout_fitness(store: Store, run: RunRecord, keys: Sequence[str]) -> dict[str, float]:
    """Held-out F of each key (NaN where it has no held-out result); empty without held-out tasks."""
    scope = run.scope
    if not scope.holdout_tasks or not scope.holdout_budget_key:
        return {}
    totals = store.task_totals(list(keys), scope.holdout_budget_key, scope.holdout_tasks, scope.seeds)
    return {k: s.fitness for k, s in score_totals(totals, keys, scope.holdout_tasks, scope.seeds).items()}


def train_vs_holdout(
    store: Store, run: RunRecord, trace: Sequence[tuple[int, float, Genome]]
) -> list[tuple[int, float, float]]:
    """``(generation, training F, held-out F)`` of each generation's best genome (``trace``:
    :func:`evo.report.best_per_generation`)."""
    held = holdout_fitness(store, run, [g.hash for _, _, g in trace])
    return [(gen, fit, held.get(g.hash, math.nan)) for gen, fit, g in trace]


def plot_train_vs_holdout(path: Path, series: Sequence[tuple[int, float, float]]) -> Path:
    """Training and held-out fitness of the best genome per generation (one PNG)."""
    from matplotlib.figure import Figure

    from evo import plots

    fig = Figure(figsize=(8, 4.2))
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
) -> str:
    """The report's markdown section (and its figure) on held-out fitness."""
    title = "Training vs held-out fitness"
    if not run.scope.holdout_tasks:
        return f"## {title}\n\nThis run has no held-out tasks (`holdout_tasks:` in the config).\n"
    series = train_vs_holdout(store, run, trace)
    if not series:
        return f"## {title}\n\nNo evaluated generation yet.\n"
    plot_train_vs_holdout(out / FIGURE, series)
    rows = [f"| {g} | {_fmt(t)} | {_fmt(h)} |" for g, t, h in series]
    text = (
        f"Held-out tasks: {', '.join(run.scope.holdout_tasks)} (budget `{run.scope.holdout_budget_key}`), "
        "scored for the best genomes of each generation, never used for selection. A widening gap "
        "means the search overfits its training tasks.\n\n"
        "| generation | training | held-out |\n|---:|---:|---:|\n" + "\n".join(rows)
    )
    return f"## {title}\n\n![{title}]({FIGURE})\n\n{text}\n"


def _fmt(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{x:.4f}"
