"""Which seeds of a table's cells diverged, and what the fitness scale means.

A seed that diverged (loss not finite or past the task's bound) or whose evaluation failed is
stored with the divergence penalty, fitness :data:`DIVERGED_FITNESS` = -1 (the worker's
``workers.fitness.DIVERGED_FITNESS``; a test keeps the two equal). Every other seed scores
``accuracy + 0.05 max(0, 1 - mean of the last 50 training losses)``, so within [0, 1.05]. A
table cell is a mean over seeds, so "-0.0723" can be one healthy seed and one at -1: the
tables say how many of a cell's seeds are at -1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evo.evidence.ranked_entry import RankedEntry
    from storage import Store

DIVERGED_FITNESS = -1.0
"""The stored fitness of a seed that diverged or failed."""
FITNESS_SCALE = (
    "fitness: per seed, accuracy + 0.05 x max(0, 1 - mean of the last 50 training losses), within "
    "0..1.05 (landscapes: accuracy = 1 / (1 + gap to the minimum)); a seed that diverged or failed "
    "scores -1 (the divergence penalty). A cell is the mean over seeds; fitness, the mean over tasks."
)
"""The footer line of every fitness table."""
DIVERGED_MARK = "!"


def diverged_note(n_seeds: int | None = None) -> str:
    """The footnote of the marks :func:`mark` writes."""
    of = f"the cell's {n_seeds} seeds" if n_seeds else "the cell's seeds"
    return f"{DIVERGED_MARK}k: k of {of} diverged or failed (each counted as -1)."


def mark(diverged: int) -> str:
    """``"!1"`` for one diverged seed, ``""`` for none."""
    return f"{DIVERGED_MARK}{diverged}" if diverged else ""


Counts = dict[str, dict[str, int]]
"""``{entry_key: {task: seeds at the divergence penalty}}``."""


def diverged_counts(
    store: Store, budget_key: str, tasks: Sequence[str], seeds: Sequence[int], entries: Sequence[RankedEntry]
) -> Counts:
    """Per shown entry and task, how many of ``seeds`` are stored at :data:`DIVERGED_FITNESS`.

    A fixed entry tuned over an lr grid counts the seeds of the grid point its cell shows
    (:func:`evo.evidence.tuned.entry_seed_values`)."""
    counts: Counts = {e.entry_key: {} for e in entries}
    plain = [e.entry_key for e in entries if not e.lr_tuned]
    rows = [(r.entry_key, r.task, r.fitness) for r in store.seed_results(plain, budget_key, tasks, seeds)]
    tuned = [e for e in entries if e.lr_tuned]
    if tuned:
        from evo.evidence.tuned import entry_seed_values

        for key, values in entry_seed_values(store, budget_key, tasks, seeds, tuned).items():
            rows += [(key, task, fitness) for (task, _), fitness in values.items()]
    for key, task, fitness in rows:
        if fitness == DIVERGED_FITNESS:
            counts[key][task] = counts[key].get(task, 0) + 1
    return counts
