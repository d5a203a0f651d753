"""The dashboard's genome page data: the rule, its maths, its lineage and its scores in a run.

Per-task fitness is :mod:`evo.search.aggregation`'s (as ``evo best`` ranks it): the mean over
the run's seeds of the stored seed fitness on each task, from the store's per-(entry, task)
totals; the seeds' own values are listed beside it.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from storage.engine import describe
from storage.records import finite_json

if TYPE_CHECKING:
    from storage import Store
    from storage.records import RunRecord


def _scores(
    store: Store, key: str, budget_key: str | None, tasks: list[str], seeds: list[int]
) -> dict[str, Any]:
    """``{task: {"fitness": F_task, "seeds": {seed: value}}}`` of ``key`` in one scope."""
    from evo.search.aggregation import score_totals

    if not tasks or budget_key is None:
        return {}
    totals = store.task_totals([key], budget_key, tasks, seeds)
    score = score_totals(totals, [key], tasks, seeds).get(key)
    per_seed: dict[str, dict[int, float]] = {t: {} for t in tasks}
    for row in store.seed_results([key], budget_key, tasks, seeds):
        per_seed[row.task][row.seed] = row.fitness
    return {
        t: {"fitness": score.per_task.get(t) if score else None, "seeds": per_seed[t]}
        for t in tasks
        if per_seed[t]
    }


def export_command(store: Store, run: RunRecord, genome_hash: str) -> str:
    """The ``evo export`` line that writes this genome as a standalone optimizer file.

    A page never shows a password: the URL is given without one, so the pasted command
    takes it where the server's clients look for it (``PGPASSWORD``, ``~/.pgpass``)."""
    url = describe(store.url).replace(":***@", "@", 1)
    return shlex.join(["evo", "export", run.name, "--genome", genome_hash, "--db", url, "-o", "optimizer.py"])


def genome_detail(store: Store, hash_or_prefix: str, run_name: str | None = None) -> dict[str, Any]:
    """A stored genome: rule, canonical rule, MathML, seed JSON, lineage, scores and export line.

    ``lineage``: every population slot it held (run, generation, slot, origin, parent
    hashes). The scores and the export line are for ``run_name``, else the first run it
    appears in. Raises UnknownGenomeError (unknown or ambiguous prefix), UnknownRunError.
    """
    from evo.report.formula import genome_mathml

    genome = store.genome(hash_or_prefix)
    appearances = store.appearances(genome.hash)
    lineage = [
        {"run": a.run_name, "generation": a.generation, "slot": a.slot, "origin": a.origin,
         "parents": a.parents, "label": a.label}
        for a in appearances
    ]  # fmt: skip
    run_name = run_name or (appearances[0].run_name if appearances else None)
    detail: dict[str, Any] = {
        "hash": genome.hash,
        "rule": genome.describe(),
        "canonical_rule": genome.canonical().describe(),
        "mathml": genome_mathml(genome),
        "json": genome.to_seed_dict(),
        "lineage": lineage,
        "run": None,
        "scores": {},
        "holdout_scores": {},
        "export_command": None,
    }
    if run_name is not None:
        run = store.get_run(run_name)
        scope = run.scope
        seeds = list(scope.seeds)
        detail.update(
            run=run.name,
            scores=_scores(store, genome.hash, scope.budget_key, list(scope.tasks), seeds),
            holdout_scores=_scores(
                store, genome.hash, scope.holdout_budget_key, list(scope.holdout_tasks), seeds
            ),
            export_command=export_command(store, run, genome.hash),
        )
    return finite_json(detail)
