"""Held-out tasks: scored for the reports, never for selection.

A job's ``holdout_tasks`` (disjoint from its ``tasks``) are trained with the same steps and
seeds as the training tasks but scored on each task's **test** split, so their cache key is
``budget_key(steps, "test")`` (``"steps=N;split=test;v1"``, :data:`workers.requests.HOLDOUT_SPLIT`); the
training key text is unchanged. Which entries are scored, per generation g, after g's
training fitness is known and before g is closed:

* the ``holdout.top_k`` best distinct genomes of g by training fitness (ties: first slot
  first; NaN fitness never counts), and
* every fixed entry (evaluated once; later generations hit the cache): with
  ``holdout.fixed_grid: false`` at its own lr only, not at every ``fixed_lr_grid`` point.

Isolation: the GA is told only the training fitness (``Driver.population_fitness`` reads the
training budget key and tasks); nothing here feeds ``tell``. Resume: a closed generation has
all its held-out results, and an interrupted one recomputes the same top-k from the same
stored training fitness and evaluates only what is missing, so a resumed run stores the same
rows as an uninterrupted one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from workers.requests import HOLDOUT_SPLIT

if TYPE_CHECKING:
    from evo.config.schema import JobConfig
    from evo.search.ga import Individual
    from storage import Store



def top_genomes(population: Sequence[Individual], fitness: Sequence[float], top_k: int) -> list[str]:
    """Keys of the ``top_k`` best distinct members by fitness (descending; ties: first slot)."""
    first: dict[str, tuple[float, int]] = {}
    for slot, (ind, value) in enumerate(zip(population, fitness, strict=True)):
        if ind.key not in first and math.isfinite(value):
            first[ind.key] = (value, slot)
    return sorted(first, key=lambda k: (-first[k][0], first[k][1]))[:top_k]


def holdout_keys(
    population: Sequence[Individual], fitness: Sequence[float], top_k: int, fixed_keys: Iterable[str]
) -> list[str]:
    """Entries a generation scores on the held-out tasks: its top-k genomes, then the fixed ones."""
    return list(dict.fromkeys([*top_genomes(population, fitness, top_k), *fixed_keys]))


def holdout_config(cfg: JobConfig) -> JobConfig:
    """``cfg`` with its evaluation scored on :data:`workers.requests.HOLDOUT_SPLIT` (for planning
    held-out work)."""
    evaluation = cfg.evaluation.model_copy(update={"selection_split": HOLDOUT_SPLIT})
    return cfg.model_copy(update={"evaluation": evaluation})


def missing_holdout(store: Store, cfg: JobConfig, keys: Sequence[str]) -> list[tuple[str, str, int]]:
    """(key, task, seed) of ``keys`` on the held-out tasks not yet stored (any status counts)."""
    if not keys or not cfg.holdout_tasks:
        return []
    rows = store.evaluations(list(keys), cfg.holdout_budget_key, tasks=list(cfg.holdout_tasks))
    have = {(r.entry_key, r.task, r.seed) for r in rows}
    return [
        (k, t, s)
        for k in keys
        for t in cfg.holdout_tasks
        for s in cfg.evaluation.seeds
        if (k, t, s) not in have
    ]
