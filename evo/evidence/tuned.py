"""Tuned fixed entries: a run's ``fixed_lr_grid`` points folded into one lr-tuned score per entry.

A fixed entry ``name`` scored at multipliers M (its own row, m = 1, plus the grid points
labelled ``name@lr*m``, see :mod:`evo.search.lr_variants`) is shown and compared as *tuned*: per task
t, the multiplier with the best mean over seeds on the selection split,
m*(t) = argmax_m mean_s f_m(t, s), and its seed values (:func:`evo.search.lr_variants.aggregate`,
``best``). Its fitness is the mean of these per-task values, as for any entry. The grid
points themselves are not ranked. An entry is complete when every grid point is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from evo.search.aggregation import EntryScore, SeedFitness, task_fitness
from evo.search.lr_variants import (
    GRID_MARK,
    aggregate,
    base_label,
    best_multipliers,
    entry_variant_key,
    seed_values,
)
from storage.records import RunEntry

if TYPE_CHECKING:
    from evo.evidence.ranked_entry import RankedEntry
    from storage import Store


def is_grid_point(entry: RunEntry) -> bool:
    """True for a fixed entry's lr-grid point (label ``name@lr*m``)."""
    return entry.is_fixed and GRID_MARK in (entry.label or "")


def tune_fixed(
    scores: Mapping[str, EntryScore],
    rows: Iterable[SeedFitness],
    entries: Sequence[RunEntry],
    tasks: Sequence[str],
    seeds: Sequence[int],
) -> tuple[dict[str, EntryScore], dict[str, dict[str, float]]]:
    """(scores with each fixed entry tuned and the grid points removed, chosen m per task)."""
    grid: dict[str, list[tuple[float, str]]] = {}
    for e in entries:
        if is_grid_point(e):
            name, m = base_label(e.label or "")
            grid.setdefault(name, []).append((m, e.entry_key))
    values = seed_values(rows)
    out = {k: s for k, s in scores.items() if not any(k == key for pts in grid.values() for _, key in pts)}
    chosen: dict[str, dict[str, float]] = {}
    for e in entries:
        if not e.is_fixed or is_grid_point(e) or e.label not in grid:
            continue
        points = sorted([(1.0, e.entry_key), *grid[e.label]])
        variants = [values.get(key, {}) for _, key in points]
        per_seed = aggregate(variants, "best", tasks, seeds)
        picks = best_multipliers(variants, tasks, seeds)
        per_task = {
            t: task_fitness([per_seed[(t, s)] for s in seeds]) for t in tasks if picks[t] >= 0
        }
        parts = [scores[key] for _, key in points if key in scores]
        out[e.entry_key] = EntryScore(
            entry_key=e.entry_key,
            per_task=per_task,
            fitness=task_fitness(list(per_task.values())) if per_task else math.nan,
            n_evaluations=sum(p.n_evaluations for p in parts),
            complete=len(parts) == len(points) and all(p.complete for p in parts),
        )
        chosen[e.entry_key] = {t: points[i][0] for t, i in picks.items() if i >= 0}
    return out, chosen


def entry_seed_values(
    store: Store, budget_key: str, tasks: Sequence[str], seeds: Sequence[int], entries: Sequence[RankedEntry]
) -> dict[str, dict[tuple[str, int], float]]:
    """``{entry_key: {(task, seed): fitness}}`` for paired statistics, finite values only.

    A tuned fixed entry (``lr_tuned`` set) gets, per task, the seed values of its chosen grid
    point, so that statistics compare with the tuned entry, as the tables do.
    """
    wanted: dict[str, list[tuple[str, str]]] = {}
    for e in entries:
        for t in tasks:
            m = (e.lr_tuned or {}).get(t, 1.0)
            key = entry_variant_key(e.entry_key, e.label, e.genome is not None, m)
            wanted.setdefault(e.entry_key, []).append((t, key))
    keys = list(dict.fromkeys(k for pairs in wanted.values() for _, k in pairs))
    stored = seed_values(r for r in store.evaluations(keys, budget_key, tasks=list(tasks)))
    out: dict[str, dict[tuple[str, int], float]] = {}
    for entry_key, pairs in wanted.items():
        values = out.setdefault(entry_key, {})
        for t, key in pairs:
            for s in seeds:
                v = stored.get(key, {}).get((t, s))
                if v is not None and math.isfinite(v):
                    values[(t, s)] = v
    return out
