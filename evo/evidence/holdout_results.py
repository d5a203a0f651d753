"""Reading a run's held-out results: ``evo best RUN --holdout`` and the numbers behind the
report's training-vs-held-out figure (:mod:`evo.report.holdout_section`).

Held-out fitness of an entry is :mod:`evo.search.aggregation`'s F over the run's ``holdout_tasks`` and
seeds under the held-out budget key (:mod:`evo.runner.holdout_work`). Only entries that were scored on
the held-out tasks (each generation's top-k and the fixed entries) are ranked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from evo.errors import UsageError
from evo.evidence.ranked_entry import RankedEntry
from evo.evidence.ranking import rank_entries
from evo.search.aggregation import score_totals

if TYPE_CHECKING:
    from optimizers.genome import Genome
    from storage import Store
    from storage.records import RunRecord

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
    (``top_k``, ``fixed_too``: as :func:`evo.evidence.ranking.rank_entries`)."""
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
    :func:`evo.report.markdown.best_per_generation`)."""
    held = holdout_fitness(store, run, [g.hash for _, _, g in trace])
    return [(gen, fit, held.get(g.hash, math.nan)) for gen, fit, g in trace]
