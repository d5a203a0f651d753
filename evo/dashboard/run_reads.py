"""The dashboard's run reads: the run list, one run's progress, its ranking and paired evidence.

Every function takes an open (read-only) :class:`storage.Store` and returns plain JSON data
(non-finite floats as ``null``). Each store call is one short read transaction; the list and
progress reads leave the GA state and metrics unread (:mod:`storage.progress_reads`).

A run's ``status`` is the one ``evo runs`` shows (:func:`evo.runner.lease.shown_status`):
``running`` only while its driver's lease is live, ``interrupted`` when the driver died,
else ``paused`` or ``finished`` as the driver left it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from evo.runner.lease import shown_status
from storage.progress_reads import RunProgress
from storage.records import finite_json

if TYPE_CHECKING:
    from evo.evidence.ranked_entry import RankedEntry
    from storage import Store
    from storage.records import RunRecord

TOP_DEFAULT = 10


def planned_generations(run: RunRecord) -> int | None:
    """The generations the run's config asks for (None where the config does not say)."""
    planned = (run.config.get("population") or {}).get("generations")
    return planned if isinstance(planned, int) else None


def run_summary(run: RunRecord, progress: RunProgress | None) -> dict[str, Any]:
    """One row of ``/api/runs``."""
    return finite_json({
        "name": run.name,
        "id": run.id,
        "status": shown_status(run),
        "generations_done": progress.generations_done if progress else 0,
        "generations_planned": planned_generations(run),
        "best_fitness": progress.best_fitness if progress else math.nan,
        "tasks": list(run.scope.tasks),
        "holdout_tasks": list(run.scope.holdout_tasks),
        "seed": run.seed,
        "created_at": run.created_at.isoformat(),
        "updated_at": run.updated_at.isoformat(),
    })  # fmt: skip


def list_runs(store: Store) -> list[dict[str, Any]]:
    """Every stored run, oldest first: ``name``, ``status``, ``generations_done``, ``best_fitness``, ..."""
    progress = store.run_progress()
    return [run_summary(run, progress.get(run.id)) for run in store.list_runs()]


def run_detail(store: Store, name: str, after: int = -1) -> dict[str, Any]:
    """One run's summary, scope and its generations with index > ``after`` (all by default).

    ``generations``: per closed generation its index, best / mean / std fitness, completion
    time and wall-time parts: the points of the fitness chart. Raises UnknownRunError.
    """
    run = store.get_run(name)
    progress = store.run_progress().get(run.id)
    generations = store.generation_summaries(run.id, after)
    if generations and (progress is None or progress.generations_done < generations[-1].index + 1):
        # a generation closed between the two reads: count the ones shown (closed in order 0, 1, ...);
        # the best fitness catches up at the next read
        best = progress.best_fitness if progress else math.nan
        progress = RunProgress(run.id, generations[-1].index + 1, best)
    detail = run_summary(run, progress)
    detail.update(finite_json({
        "seeds": list(run.scope.seeds),
        "budget_key": run.scope.budget_key,
        "lease_owner": run.lease_owner,
        "lease_heartbeat": run.lease_heartbeat.isoformat() if run.lease_heartbeat else None,
        "generations": [
            {"index": g.index, "best": g.best_fitness, "mean": g.mean_fitness, "std": g.std_fitness,
             "completed_at": g.completed_at.isoformat(), "timing": g.timing}
            for g in generations
        ],
    }))  # fmt: skip
    return detail


def _rule(entry: RankedEntry) -> str | None:
    """The entry's update rule in canonical form, as ``evo show`` prints it (None: opaque entry)."""
    return entry.genome.canonical().describe() if entry.genome is not None else None


def ranking(store: Store, name: str, top: int = TOP_DEFAULT) -> dict[str, Any]:
    """The ``top`` best evolved entries and every fixed entry (``evo best``), with held-out F.

    Per entry: rank, shown name, key, fitness F (mean over tasks of the mean over seeds),
    per-task fitness, held-out F (``null`` without held-out tasks or result), whether it has
    every (task, seed) result, and its canonical rule.
    """
    from evo.evidence.holdout_results import holdout_fitness
    from evo.evidence.ranked_entry import entry_name
    from evo.evidence.ranking import best

    run = store.get_run(name)
    entries = best(store, run.id, top_k=top, fixed_too=True)
    held = holdout_fitness(store, run, [e.entry_key for e in entries])
    rows = [
        {
            "rank": e.rank, "name": entry_name(e), "entry_key": e.entry_key, "is_fixed": e.is_fixed,
            "has_genome": e.genome is not None, "fitness": e.fitness, "per_task": e.per_task,
            "holdout_fitness": held.get(e.entry_key, math.nan) if held else None,
            "complete": e.complete, "n_evaluations": e.n_evaluations, "rule": _rule(e),
            "lr_tuned": e.lr_tuned, "damaged": e.damaged,
        }
        for e in entries
    ]  # fmt: skip
    scope = run.scope
    tasks, holdout_tasks = list(scope.tasks), list(scope.holdout_tasks)
    return finite_json({"run": run.name, "tasks": tasks, "holdout_tasks": holdout_tasks, "entries": rows})


def paired(store: Store, name: str) -> dict[str, Any]:
    """The run's best evolved genome against every fixed entry, paired by (task, seed)
    (:func:`evo.evidence.paired.versus`, as ``evo best --vs all``); empty before a genome is scored."""
    from evo.evidence.paired import versus
    from evo.evidence.ranked_entry import entry_name
    from evo.evidence.ranking import best

    run = store.get_run(name)
    ranked = best(store, run.id, top_k=None)
    evolved = [r for r in ranked if not r.is_fixed]
    if not evolved:
        return {"run": run.name, "entry": None, "comparisons": []}
    top = evolved[0]
    fixed = [r for r in ranked if r.is_fixed and r.entry_key != top.entry_key]
    comparisons = versus(
        store, run.scope, (top.entry_key, entry_name(top)), [(r.entry_key, entry_name(r)) for r in fixed],
        tuned=[r for r in ranked if r.is_fixed],
    )  # fmt: skip
    listed = [v.as_json() for v in comparisons]
    return finite_json({"run": run.name, "entry": top.entry_key, "comparisons": listed})


def compare(store: Store, names: list[str]) -> dict[str, Any]:
    """Two or more runs (e.g. the repeats ``NAME-r0``, ``NAME-r1``, ...) side by side.

    Per run: its summary, best fitness per generation, and its final best genome's training
    and held-out F (:func:`evo.evidence.repeats.run_outcome`); over the runs the spread of
    those two (mean, sample std, min, max: :func:`evo.evidence.repeats.spread`).
    """
    from evo.evidence.repeats import run_outcome, spread

    progress = store.run_progress()
    runs = []
    for name in dict.fromkeys(names):
        run = store.get_run(name)
        outcome = run_outcome(store, run.name)
        row = run_summary(run, progress.get(run.id))
        row["best_per_generation"] = [g.best_fitness for g in store.generation_summaries(run.id)]
        row["outcome"] = {"genome": outcome.genome if outcome.genome != "-" else None,
                          "training": outcome.training, "holdout": outcome.holdout}  # fmt: skip
        runs.append(row)
    training = spread([r["outcome"]["training"] for r in runs])
    holdout = spread([r["outcome"]["holdout"] for r in runs])
    return finite_json({"runs": runs, "spread": {"training": vars(training), "holdout": vars(holdout)}})
