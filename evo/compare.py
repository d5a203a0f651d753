"""``evo compare``: score only the fixed entries, on a config's tasks, seeds and budget.

No run is created; results go to the store's evaluation cache, so a later ``evo run`` with
the same budget reuses them (and ``compare`` after a run costs nothing).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from evo.aggregate import overall_fitness, per_task_fitness
from evo.config import JobConfig
from evo.driver import evaluate, fixed_entries
from evo.events import RunObserver
from storage.records import RankedEntry

if TYPE_CHECKING:
    from evo.executor import Executor
    from storage import Store


def missing_fixed(store: Store, cfg: JobConfig) -> tuple[list[str], list[tuple[str, str, int]]]:
    """Keys of the config's fixed entries and their (key, task, seed) not yet in the cache."""
    _, specs = fixed_entries(cfg.fixed_entries)
    keys = list(specs)
    have = {(r.entry_key, r.task, r.seed) for r in store.evaluations(keys, cfg.budget_key, tasks=cfg.tasks)}
    missing = [
        (k, t, s) for k in keys for t in cfg.tasks for s in cfg.evaluation.seeds if (k, t, s) not in have
    ]
    return keys, missing


def score_fixed(
    store: Store, cfg: JobConfig, executor: Executor, observer: RunObserver | None = None
) -> list[RankedEntry]:
    """Evaluate what is missing, then rank the fixed entries by fitness (best first).

    Fitness = mean over tasks of the mean over seeds, as for evolved genomes; an entry with a
    missing result ranks last with NaN fitness and ``complete=False``.
    """
    observer = observer or RunObserver()
    rows, specs = fixed_entries(cfg.fixed_entries)
    keys, missing = missing_fixed(store, cfg)
    total = len(keys) * len(cfg.tasks) * len(cfg.evaluation.seeds)
    observer.generation_started(0, total, total - len(missing))
    evaluate(store, executor, missing, specs, cfg, prefix="fixed", observer=observer)

    stored = store.evaluations(keys, cfg.budget_key, tasks=cfg.tasks)
    table = per_task_fitness(stored, cfg.tasks, cfg.evaluation.seeds)
    counts: dict[str, int] = {}
    for r in stored:
        if r.task in cfg.tasks and r.seed in cfg.evaluation.seeds:
            counts[r.entry_key] = counts.get(r.entry_key, 0) + 1
    scored = []
    for row in rows:
        per_task = table.get(row.entry_key, {})
        fitness = overall_fitness(per_task, cfg.tasks)
        scored.append((row, per_task, fitness))
    scored.sort(key=lambda x: -x[2] if not math.isnan(x[2]) else math.inf)
    return [
        RankedEntry(
            rank=rank,
            entry_key=row.entry_key,
            label=row.label,
            is_fixed=True,
            genome=row.genome,
            fitness=fitness,
            per_task={t: v for t, v in per_task.items() if not math.isnan(v)},
            n_evaluations=counts.get(row.entry_key, 0),
            complete=not math.isnan(fitness),
        )
        for rank, (row, per_task, fitness) in enumerate(scored, start=1)
    ]
