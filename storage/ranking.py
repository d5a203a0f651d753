"""Ranking a run's entries from per-(entry, task) fitness sums (pure; used by ``Store.best``).

For an entry e with stored seed fitness f(e, t, s) over the scope's tasks T and seeds S:

.. math::

    \\bar f(e, t) = \\frac{1}{|S_{e,t}|} \\sum_{s \\in S_{e,t}} f(e, t, s), \\qquad
    F(e) = \\frac{1}{|T_e|} \\sum_{t \\in T_e} \\bar f(e, t)

where S_{e,t} are the seeds evaluated so far and T_e the tasks with any evaluation; F is NaN
when e has none, or when a stored fitness is NaN. An entry is complete when it has all
|T| |S| evaluations. Order: complete before incomplete, then finite F before NaN, then F
descending, then ``entry_key`` (so ties are deterministic).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass
class EntryScore:
    """Accumulated evaluations of one entry: per task, the fitness values seen so far."""

    entry_key: str
    per_task_values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, task: str, fitness: float) -> None:
        self.per_task_values.setdefault(task, []).append(fitness)

    @property
    def n_evaluations(self) -> int:
        return sum(len(v) for v in self.per_task_values.values())

    def per_task(self, tasks: Sequence[str]) -> dict[str, float]:
        """Mean fitness per evaluated task, in scope order (NaN if any value is NaN)."""
        return {
            task: math.fsum(self.per_task_values[task]) / len(self.per_task_values[task])
            for task in tasks
            if self.per_task_values.get(task)
        }

    def fitness(self, tasks: Sequence[str]) -> float:
        means = list(self.per_task(tasks).values())
        return math.fsum(means) / len(means) if means else math.nan

    def complete(self, tasks: Sequence[str], n_seeds: int) -> bool:
        return all(len(self.per_task_values.get(task, ())) == n_seeds for task in tasks)


def rank(scores: Iterable[EntryScore], tasks: Sequence[str], n_seeds: int) -> list[EntryScore]:
    """``scores`` in ranking order (see the module docstring)."""

    def key(score: EntryScore) -> tuple[bool, bool, float, str]:
        fitness = score.fitness(tasks)
        finite = not math.isnan(fitness)
        return (not score.complete(tasks, n_seeds), not finite, -fitness if finite else 0.0, score.entry_key)

    return sorted(scores, key=key)
