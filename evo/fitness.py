"""Seed fitness -> task fitness -> genome fitness: the one definition (pure, no database).

The stored seed fitness f(e, t, s) of entry e on task t with training seed s is computed on
the worker (:mod:`workers.fitness`: accuracy plus the loss bonus, -1 for a diverged or
failed member). Over a run's tasks T and seeds S, with S_{e,t} the seeds of t stored so far
for e and T_e the tasks with at least one stored seed:

.. math::

    \\bar f(e, t) = \\frac{1}{|S_{e,t}|} \\sum_{s \\in S_{e,t}} f(e, t, s), \\qquad
    F(e) = \\frac{1}{|T_e|} \\sum_{t \\in T_e} \\bar f(e, t)

Sums are exact (``math.fsum``), so the order rows come in does not matter. A stored NaN
propagates (NaN fitness); an entry without any stored result has F = NaN.

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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel


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


def score_entries(
    rows: Iterable[SeedFitness], keys: Iterable[str], tasks: Sequence[str], seeds: Sequence[int]
) -> dict[str, EntryScore]:
    """``{key: EntryScore}`` for every key in ``keys`` from the stored rows (see the module doc)."""
    wanted_tasks, wanted_seeds = set(tasks), set(seeds)
    values: dict[str, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for row in rows:
        if row.task in wanted_tasks and row.seed in wanted_seeds:
            values[row.entry_key][row.task][row.seed] = float(row.fitness)
    scores = {}
    for key in keys:
        by_task = values.get(key, {})
        per_task = {t: task_fitness(list(by_task[t].values())) for t in tasks if by_task.get(t)}
        n = sum(len(by_task[t]) for t in per_task)
        scores[key] = EntryScore(
            entry_key=key,
            per_task=per_task,
            fitness=task_fitness(list(per_task.values())),
            n_evaluations=n,
            complete=n == len(tasks) * len(seeds),
        )
    return scores


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
