"""Seed fitness -> task fitness -> genome fitness: the one definition (pure, no database).

The stored seed fitness f(e, t, s) of entry e on task t with training seed s is computed on
the worker (:mod:`workers.fitness`: accuracy plus the loss bonus, -1 for a diverged or
failed member). Over a run's tasks T and seeds S, with S_{e,t} the seeds of t stored so far
for e and T_e the tasks with at least one stored seed:

.. math::

    \\bar f(e, t) = \\frac{1}{|S_{e,t}|} \\sum_{s \\in S_{e,t}} f(e, t, s), \\qquad
    F(e) = \\frac{1}{|T_e|} \\sum_{t \\in T_e} \\bar f(e, t)

Both means are computed from per-(entry, task) totals (:class:`storage.records.TaskTotal`:
the sum of the stored non-NaN values, the number of stored seeds, the number of NaN ones):
:func:`score_totals` is the one place that turns totals into fitness. They come either from
the seed rows (:func:`task_totals`, exact ``math.fsum``, so the order rows come in does not
matter) or from the store's GROUP BY (:meth:`storage.Store.task_totals`, SQL ``SUM``; equal
to within rounding, ~1e-16 relative). A stored NaN propagates (NaN task and entry fitness);
an entry without any stored result has F = NaN.

**The missing-seed rule.** An entry is *complete* when all |T| |S| results are stored.
While it is not, F is provisional (the mean of what is stored) and the entry ranks after
every complete one (:func:`rank`). The GA is only ever told complete fitness: the driver
re-submits missing evaluations and fails otherwise, and :func:`genome_fitness` gives NaN
for an incomplete entry (which the GA ranks last). For a completed run both readings agree.

Rows of other tasks or seeds (the evaluation cache is shared between runs) are ignored.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel

from storage.records import TaskTotal


class SeedFitness(Protocol):
    """One stored result as the fitness reads it (an evaluation record or a plain row)."""

    entry_key: str
    task: str
    seed: int
    fitness: float


@dataclass(frozen=True)
class EntryScore:
    """An entry's fitness over a scope: per-task means, F, and whether it is complete."""

    entry_key: str
    per_task: dict[str, float]
    """Mean over the stored seeds of each task with any, in scope order."""
    fitness: float
    """F(e): mean of ``per_task`` (NaN when empty or when a stored value is NaN)."""
    n_evaluations: int
    complete: bool


class PopulationStats(BaseModel):
    """Best, mean and (population) standard deviation of the finite fitness values."""

    best: float
    mean: float
    std: float


def task_fitness(seed_fitness: Sequence[float]) -> float:
    """Mean over seeds of one task (NaN for none)."""
    return math.fsum(seed_fitness) / len(seed_fitness) if seed_fitness else math.nan


def task_totals(rows: Iterable[SeedFitness], tasks: Sequence[str], seeds: Sequence[int]) -> list[TaskTotal]:
    """Per (entry, task) totals of the seed rows in scope (a repeated (entry, task, seed): last wins)."""
    wanted_tasks, wanted_seeds = set(tasks), set(seeds)
    values: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    for row in rows:
        if row.task in wanted_tasks and row.seed in wanted_seeds:
            values[(row.entry_key, row.task)][row.seed] = float(row.fitness)
    totals = []
    for (key, task), by_seed in values.items():
        finite = [v for v in by_seed.values() if not math.isnan(v)]
        totals.append(TaskTotal(key, task, math.fsum(finite), len(by_seed), len(by_seed) - len(finite)))
    return totals


def score_totals(
    totals: Iterable[TaskTotal], keys: Iterable[str], tasks: Sequence[str], seeds: Sequence[int]
) -> dict[str, EntryScore]:
    """``{key: EntryScore}`` for every key in ``keys`` from per-(entry, task) totals in scope.

    Task mean = total / n_seeds (NaN if a stored seed is NaN); F = mean of the task means.
    """
    by_entry: dict[str, dict[str, tuple[float, int]]] = defaultdict(dict)
    for key, task, total, n_seeds, n_nan in totals:
        if n_seeds > 0:
            by_entry[key][task] = (math.nan if n_nan else total / n_seeds, n_seeds)
    scores = {}
    for key in keys:
        by_task = by_entry.get(key, {})
        per_task = {t: by_task[t][0] for t in tasks if t in by_task}
        n = sum(by_task[t][1] for t in per_task)
        scores[key] = EntryScore(
            entry_key=key,
            per_task=per_task,
            fitness=task_fitness(list(per_task.values())),
            n_evaluations=n,
            complete=n == len(tasks) * len(seeds),
        )
    return scores


def score_entries(
    rows: Iterable[SeedFitness], keys: Iterable[str], tasks: Sequence[str], seeds: Sequence[int]
) -> dict[str, EntryScore]:
    """``{key: EntryScore}`` for every key in ``keys`` from the stored seed rows (see the module doc)."""
    return score_totals(task_totals(rows, tasks, seeds), keys, tasks, seeds)


def genome_fitness(
    rows: Iterable[SeedFitness], keys: Iterable[str], tasks: Sequence[str], seeds: Sequence[int]
) -> dict[str, float]:
    """``{key: F}`` as the GA is told it: NaN for an incomplete entry."""
    return {
        key: score.fitness if score.complete else math.nan
        for key, score in score_entries(rows, keys, tasks, seeds).items()
    }


def rank(scores: Iterable[EntryScore]) -> list[EntryScore]:
    """Best first: complete before incomplete, finite F before NaN, F descending, then key."""

    def order(score: EntryScore) -> tuple[bool, bool, float, str]:
        finite = not math.isnan(score.fitness)
        return (not score.complete, not finite, -score.fitness if finite else 0.0, score.entry_key)

    return sorted(scores, key=order)


def population_stats(fitness: Sequence[float]) -> PopulationStats:
    """Stats over the finite values; all NaN when there are none."""
    finite = [f for f in fitness if math.isfinite(f)]
    if not finite:
        return PopulationStats(best=math.nan, mean=math.nan, std=math.nan)
    mean = math.fsum(finite) / len(finite)
    var = math.fsum((f - mean) ** 2 for f in finite) / len(finite)
    return PopulationStats(best=max(finite), mean=mean, std=math.sqrt(var))


# -- the task funnel (evo.search.funnel) ------------------------------------------------------
def funnel_order(level: int, score: float) -> tuple[int, bool, float]:
    """Sort key (ascending = best first) of an entry that reached rung ``level`` with ``score``.

    The one ordering under a task funnel: an entry that climbed further ranks above every
    entry stopped earlier, whatever their scores; within a rung, higher rung score first;
    NaN (no result) last within its rung.
    """
    finite = not math.isnan(score)
    return (-level, not finite, -score if finite else 0.0)


def funnel_fitness(levels: Mapping[str, int], scores: Mapping[str, float]) -> dict[str, float]:
    """The fitness the GA is told under a funnel: one number per key, ordered by :func:`funnel_order`.

    Entries of the highest level keep their score (the full evaluation's fitness). Going
    down, level L's scores are shifted by one constant so that its best finite score sits
    1 below the lowest finite told value of all levels above it:

    .. math::

        \\tilde f(e) = f(e) - \\max_{L(e') = L} f(e') + \\min_{L(e') > L} \\tilde f(e') - 1

    Differences within a level are kept; NaN stays NaN (the GA ranks it last).
    """
    told: dict[str, float] = {}
    floor = math.inf
    for level in sorted(set(levels.values()), reverse=True):
        keys = [k for k in levels if levels[k] == level]
        finite = [scores[k] for k in keys if not math.isnan(scores[k])]
        shift = 0.0 if not finite or math.isinf(floor) else floor - 1.0 - max(finite)
        for k in keys:
            told[k] = scores[k] + shift
        values = [told[k] for k in keys if not math.isnan(told[k])]
        floor = min([floor, *values])
    return told
