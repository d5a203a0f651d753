"""A run's per-generation metrics, read from the store: the same numbers live and after a resume.

For closed generation g of a run on tasks T with seeds S (the selection budget), step g logs:

* ``fitness/best``, ``fitness/mean``, ``fitness/std``: the generation's stored statistics
  (what ``evo show RUN`` and the report's curve read);
* ``fitness/best_so_far``: the GA's best fitness after generation g's ``tell``;
* ``task_best/<t>``: the best task score on t among the generation's entries that have
  every seed of t, where an entry's task score is the mean over seeds
  (:func:`evo.search.aggregation.task_fitness`);
* ``evaluations/done``: stored (entry, task, seed) results of the distinct entries of
  generations 0..g and of the fixed entries (a cached result counts once);
* ``timing/<part>``: the generation's wall-time breakdown (:mod:`evo.runner.timing`).

Values that are not finite (a population that all diverged) are left out, not logged as NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from storage.records import FIXED_GENERATION

if TYPE_CHECKING:
    from evo.config.schema import JobConfig
    from storage import Store
    from storage.records import GenerationRecord


@dataclass(frozen=True)
class GenerationPoint:
    """The metrics logged at one step (= generation index)."""

    step: int
    walltime: float
    """When the generation was closed, seconds since the epoch."""
    metrics: dict[str, float]


def best_task_scores(store: Store, cfg: JobConfig, entry_keys: list[str]) -> dict[str, float]:
    """Per task: the best mean-over-seeds score among ``entry_keys`` complete on that task."""
    seeds = list(cfg.evaluation.seeds)
    best: dict[str, float] = {}
    for total in store.task_totals(entry_keys, cfg.budget_key, cfg.tasks, seeds):
        if total.n_seeds == len(seeds) and total.n_nan == 0:
            score = total.total / total.n_seeds
            best[total.task] = max(score, best.get(total.task, -math.inf))
    return best


@dataclass
class GenerationPoints:
    """Turns a run's closed generations into :class:`GenerationPoint` s, each once, in order.

    Keeps the entries counted so far, so each call reads only the generations closed since
    the last one (plus one count query for their new entries).
    """

    store: Store
    run_id: int
    cfg: JobConfig
    next_generation: int = 0
    done: int = 0
    seen: set[str] = field(default_factory=set)

    def new_points(self) -> list[GenerationPoint]:
        """Points of the generations closed since the last call (all of them at first)."""
        last = self.store.last_complete_generation(self.run_id)
        if last is None or last.index < self.next_generation:
            return []
        if last.index == self.next_generation:
            records = [last]
        else:
            records = [g for g in self.store.generations(self.run_id) if g.index >= self.next_generation]
        return [self._point(record) for record in records]

    def _count(self, entry_keys: list[str]) -> None:
        new = [k for k in dict.fromkeys(entry_keys) if k not in self.seen]
        if not new:
            return
        totals = self.store.task_totals(
            new, self.cfg.budget_key, self.cfg.tasks, list(self.cfg.evaluation.seeds)
        )
        self.done += sum(t.n_seeds for t in totals)
        self.seen.update(new)

    def _point(self, record: GenerationRecord) -> GenerationPoint:
        if record.index == 0:
            self._count([i.entry_key for i in self.store.individuals(self.run_id, FIXED_GENERATION)])
        keys = [i.entry_key for i in self.store.individuals(self.run_id, record.index)]
        self._count(keys)
        metrics = {
            "fitness/best": record.best_fitness,
            "fitness/mean": record.mean_fitness,
            "fitness/std": record.std_fitness,
            "fitness/best_so_far": float(record.ga_state.get("best_fitness", math.nan)),
            "evaluations/done": float(self.done),
        }
        metrics.update({f"task_best/{t}": v for t, v in best_task_scores(self.store, self.cfg, keys).items()})
        metrics.update({f"timing/{k}": float(v) for k, v in (record.timing or {}).items()})
        self.next_generation = record.index + 1
        return GenerationPoint(
            step=record.index,
            walltime=record.completed_at.timestamp(),
            metrics={k: v for k, v in metrics.items() if math.isfinite(v)},
        )
