"""``evo compare``: score only the fixed entries, on a config's tasks, seeds and budget.

No run is created; results go to the store's evaluation cache, so a later ``evo run`` with
the same budget reuses them (and ``compare`` after a run costs nothing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evo.config.schema import JobConfig
from evo.evidence.ranked_entry import RankedEntry
from evo.evidence.ranking import rank_entries
from evo.runner.entry_rows import fixed_entries
from evo.runner.evaluation_passes import evaluate
from evo.runner.events import RunObserver
from evo.search.lr_variants import grid_rows
from storage.records import IndividualIn, RunEntry
from workers.requests import EntrySpec

if TYPE_CHECKING:
    from evo.execution.executor import Executor
    from storage import Store


def fixed_with_grid(cfg: JobConfig) -> tuple[list[IndividualIn], dict[str, EntrySpec]]:
    """The config's fixed entries plus their ``fixed_lr_grid`` points (:mod:`evo.search.lr_variants`)."""
    rows, specs = fixed_entries(cfg.fixed_entries)
    grid, grid_specs = grid_rows(cfg.fixed_entries, cfg.fixed_lr_grid, len(rows))
    specs.update({k: s for k, s in grid_specs.items() if k not in specs})
    return rows + grid, specs


def missing_fixed(store: Store, cfg: JobConfig) -> tuple[list[str], list[tuple[str, str, int]]]:
    """Keys of the config's fixed entries (and grid points) and their (key, task, seed) not cached."""
    _, specs = fixed_with_grid(cfg)
    keys = list(specs)
    have = {(r.entry_key, r.task, r.seed) for r in store.evaluations(keys, cfg.budget_key, tasks=cfg.tasks)}
    missing = [
        (k, t, s) for k in keys for t in cfg.tasks for s in cfg.evaluation.seeds if (k, t, s) not in have
    ]
    return keys, missing


def score_fixed(
    store: Store, cfg: JobConfig, executor: Executor, observer: RunObserver | None = None
) -> list[RankedEntry]:
    """Evaluate what is missing, then rank the fixed entries (best first, :mod:`evo.search.aggregation`).

    Fitness = mean over tasks of the mean over seeds, as for evolved genomes; an entry still
    missing a result ranks after the complete ones with ``complete=False``. With a
    ``fixed_lr_grid`` every grid point is evaluated and each entry ranks lr-tuned
    (:mod:`evo.evidence.tuned`).
    """
    observer = observer or RunObserver()
    rows, specs = fixed_with_grid(cfg)
    keys, missing = missing_fixed(store, cfg)
    total = len(keys) * len(cfg.tasks) * len(cfg.evaluation.seeds)
    observer.generation_started(0, total, total - len(missing))
    evaluate(store, executor, missing, specs, cfg, prefix="fixed", observer=observer)
    entries = [
        RunEntry(entry_key=r.entry_key, label=r.label, is_fixed=True, has_genome=r.genome is not None)
        for r in rows
    ]
    ranked = rank_entries(store, entries, cfg.budget_key, cfg.tasks, cfg.evaluation.seeds)
    # No run stores these genomes (only their evaluations), so the store has no genome row to
    # read back: the rule comes from the config's entries, as a run's table shows it.
    genomes = {r.entry_key: r.genome for r in rows if r.genome is not None}
    return [
        r.model_copy(update={"genome": genomes[r.entry_key]})
        if r.genome is None and r.entry_key in genomes
        else r
        for r in ranked
    ]
