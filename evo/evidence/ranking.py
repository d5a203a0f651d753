"""A run's entries ranked by fitness, read from the store (``evo best``, report, compare).

The store returns rows (:meth:`Store.run_entries`, :meth:`Store.task_totals`); the fitness
and the order are :mod:`evo.search.aggregation`'s (provisional fitness for incomplete entries, which
rank after complete ones).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from evo.evidence.ranked_entry import RankedEntry
from evo.evidence.ranking_bands import ranked_from_estimates
from evo.evidence.tuned import is_grid_point, tune_fixed
from evo.search.aggregation import EntryScore, rank, score_totals
from optimizers.errors import one_line
from optimizers.genome import Genome
from storage.errors import StorageError, TaskNotInRunError
from storage.records import RunEntry

if TYPE_CHECKING:
    from storage import Store


def rank_entries(
    store: Store,
    entries: Sequence[RunEntry],
    budget_key: str,
    tasks: Sequence[str],
    seeds: Sequence[int],
    top_k: int | None = None,
    fixed_too: bool = False,
    run_id: int | None = None,
) -> list[RankedEntry]:
    """``entries`` best first on ``tasks`` x ``seeds`` under ``budget_key`` (the first ``top_k``).

    With ``fixed_too``, ``top_k`` counts the evolved entries and every fixed entry is kept
    as well, at its rank. Scores come from the store's per-(entry, task) totals (read for
    the whole run ``run_id`` when every entry is of that run); only the fixed entries' seed
    rows (for lr tuning) and the shown entries' genomes are read.
    """
    by_key = {e.entry_key: e for e in entries}
    fast = None
    if run_id is not None and top_k is not None:  # a whole run, a few shown: read only what is shown
        fast = ranked_from_estimates(store, by_key, budget_key, tasks, seeds, top_k, fixed_too, run_id)
    if fast is not None:
        ranked, chosen = fast
    else:
        ranked, chosen = _rank_all(store, by_key, budget_key, tasks, seeds, top_k, fixed_too, run_id)
    found = store.genomes_or_damage([s.entry_key for _, s in ranked if by_key[s.entry_key].has_genome])
    genomes = {k: v for k, v in found.items() if isinstance(v, Genome)}
    damaged = {k: one_line(v) for k, v in found.items() if not isinstance(v, Genome)}
    return [
        RankedEntry(
            rank=i,
            entry_key=score.entry_key,
            label=by_key[score.entry_key].label,
            is_fixed=by_key[score.entry_key].is_fixed,
            genome=genomes.get(score.entry_key),
            fitness=score.fitness,
            per_task=score.per_task,
            n_evaluations=score.n_evaluations,
            complete=score.complete,
            damaged=damaged.get(score.entry_key),
            lr_tuned=chosen.get(score.entry_key),
        )
        for i, score in ranked
    ]


def _rank_all(
    store: Store,
    by_key: dict[str, RunEntry],
    budget_key: str,
    tasks: Sequence[str],
    seeds: Sequence[int],
    top_k: int | None,
    fixed_too: bool,
    run_id: int | None,
) -> tuple[list[tuple[int, EntryScore]], dict[str, dict[str, float]]]:
    """(rank, score) of the shown entries from every entry's exact score (``by_key`` loses
    the lr-grid points, which are not ranked), and the tuned entries' chosen multipliers."""
    entries = list(by_key.values())
    totals = store.task_totals(list(by_key) if run_id is None else [], budget_key, tasks, seeds, run_id)
    scores = score_totals(totals, by_key, tasks, seeds)
    chosen: dict[str, dict[str, float]] = {}
    if any(is_grid_point(e) for e in entries):
        rows = store.seed_results([e.entry_key for e in entries if e.is_fixed], budget_key, tasks, seeds)
        scores, chosen = tune_fixed(scores, rows, entries, tasks, seeds)
        for key in [k for k in by_key if k not in scores]:
            del by_key[key]
    ranked = list(enumerate(rank(scores.values()), start=1))
    if fixed_too:
        evolved = [s.entry_key for _, s in ranked if not by_key[s.entry_key].is_fixed][:top_k]
        shown = set(evolved)
        ranked = [(i, s) for i, s in ranked if s.entry_key in shown or by_key[s.entry_key].is_fixed]
    else:
        ranked = ranked[:top_k]
    return ranked, chosen


def best(
    store: Store,
    run_id: int | str,
    top_k: int | None = 10,
    task: str | None = None,
    fixed_too: bool = False,
) -> list[RankedEntry]:
    """The run's entries (every generation's plus its fixed ones), best first.

    ``task`` ranks on that task alone (TaskNotInRunError if it is not in the run's scope);
    ``top_k=None`` returns all; ``fixed_too`` keeps every fixed entry besides the ``top_k``
    best evolved ones (ranks stay those of the whole ranking).
    """
    if top_k is not None and top_k < 1:
        raise StorageError(f"top_k must be at least 1, got {top_k}")
    run = store.get_run(run_id)
    scope = run.scope
    if task is not None and task not in scope.tasks:
        raise TaskNotInRunError(
            f"task {task!r} is not in run {run.name!r}; its tasks: {', '.join(scope.tasks)}"
        )
    tasks = [task] if task is not None else scope.tasks
    return rank_entries(
        store, store.run_entries(run.id), scope.budget_key, tasks, scope.seeds, top_k, fixed_too, run.id
    )
