"""A run's stored rows as plain records, one per evaluation or generation (``Run.evaluations``,
``Run.generations`` make pandas DataFrames of them).

The evaluation cache is shared between runs, so "a run's evaluations" are the stored results
of the run's entries on the run's tasks and seeds under each of its budgets:

* ``selection``: the GA's tasks under the run's budget key (what fitness is computed from);
* ``holdout``: the held-out tasks on their test split (never seen by the GA);
* ``rung<i>``: the lower rungs of an ``evaluation.funnel`` (cheaper budgets);

and the entries are every generation's members, the fixed entries (with their
``fixed_lr_grid`` points) and, under ``evaluation.lr_multipliers``, each genome (evolved or
a genome-kind fixed entry such as ``adam``) at each multiplier (``lr_multiplier`` says which;
``entry_key`` is then the scaled genome's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from storage.records import FIXED_GENERATION

if TYPE_CHECKING:
    from optimizers.genome import Genome
    from storage import Store
    from storage.records import EvaluationRecord, RunRecord

SELECTION, HOLDOUT = "selection", "holdout"

EVALUATION_COLUMNS = [
    "run", "generation", "origin", "entry_key", "label", "fixed", "lr_multiplier", "split", "task",
    "seed", "fitness", "status", "error", "worker", "device", "wall_time_s", "created_at", "budget_key",
]  # fmt: skip
"""Columns of :func:`evaluation_records`, before the ``metrics.<name>`` ones."""

GENERATION_COLUMNS = ["run", "generation", "best_fitness", "mean_fitness", "std_fitness", "completed_at"]
"""Columns of :func:`generation_records`, before the ``timing.<part>`` ones."""


@dataclass(frozen=True)
class Member:
    """Where an entry first appears in a run."""

    generation: int
    origin: str
    label: str | None
    genome: Genome | None


def run_members(store: Store, run: RunRecord) -> dict[str, Member]:
    """Every entry key of the run (fixed entries first, generation -1), at its first appearance."""
    members: dict[str, Member] = {}
    generation = FIXED_GENERATION
    while True:
        individuals = store.individuals(run.id, generation)
        if not individuals and generation >= 0:
            return members
        for ind in individuals:
            if ind.entry_key not in members:
                members[ind.entry_key] = Member(generation, ind.origin, ind.label, ind.genome)
        generation += 1


def _budgets(run: RunRecord) -> list[tuple[str, str, list[str], list[int]]]:
    """(split, budget key, tasks, seeds) of every budget the run scores under."""
    scope = run.scope
    budgets = [(SELECTION, scope.budget_key, list(scope.tasks), list(scope.seeds))]
    if scope.holdout_tasks and scope.holdout_budget_key:
        budgets.append((HOLDOUT, scope.holdout_budget_key, list(scope.holdout_tasks), list(scope.seeds)))
    if (run.config.get("evaluation") or {}).get("funnel"):
        from evo.config.schema import parse_config
        from evo.search.funnel import rungs

        cfg = parse_config(run.config, source=f"the stored config of run {run.name!r}")
        for rung in rungs(cfg):
            if rung.budget_key != scope.budget_key:
                tasks, seeds = list(rung.cfg.tasks), list(rung.cfg.evaluation.seeds)
                budgets.append((f"rung{rung.index}", rung.budget_key, tasks, seeds))
    return budgets


def _keys(run: RunRecord, members: dict[str, Member]) -> dict[str, tuple[str, float]]:
    """Cache key -> (the member it belongs to, lr multiplier)."""
    keys = {key: (key, 1.0) for key in members}
    multipliers = (run.config.get("evaluation") or {}).get("lr_multipliers") or [1.0]
    if list(multipliers) != [1.0]:
        from evo.search.lr_variants import genome_variant_keys

        for key, member in members.items():
            if member.genome is not None:  # evolved, and genome-kind fixed entries (adam, ...)
                for variant, m in zip(
                    genome_variant_keys(member.genome, key, multipliers), multipliers, strict=True
                ):
                    keys.setdefault(variant, (key, float(m)))
    return keys


def _record(run: RunRecord, member: Member, key: str, m: float, split: str, row: EvaluationRecord) -> dict:
    values: dict[str, Any] = {
        "run": run.name, "generation": member.generation, "origin": member.origin, "entry_key": key,
        "label": member.label, "fixed": member.origin == "fixed", "lr_multiplier": m, "split": split,
        "task": row.task, "seed": row.seed, "fitness": row.fitness, "status": row.status,
        "error": row.error, "worker": row.worker, "device": row.device, "wall_time_s": row.wall_time_s,
        "created_at": row.created_at, "budget_key": row.budget_key,
    }  # fmt: skip
    values.update({f"metrics.{name}": value for name, value in row.metrics.items()})
    return values


def evaluation_records(store: Store, run: RunRecord) -> list[dict[str, Any]]:
    """One dict per stored evaluation of the run (see the module doc): the
    :data:`EVALUATION_COLUMNS`, then each metric as ``metrics.<name>``; ordered by budget,
    then entry (first appearance), task and seed."""
    members = run_members(store, run)
    keys = _keys(run, members)
    records = []
    for split, budget_key, tasks, seeds in _budgets(run):
        for row in store.evaluations(list(keys), budget_key, tasks=tasks):
            if row.seed in seeds:
                member_key, m = keys[row.entry_key]
                records.append(_record(run, members[member_key], row.entry_key, m, split, row))
    return records


def generation_records(store: Store, run: RunRecord) -> list[dict[str, Any]]:
    """One dict per closed generation: the :data:`GENERATION_COLUMNS`, then the seconds of
    each part of its wall time as ``timing.<part>`` (``evo show RUN``'s breakdown)."""
    records = []
    for g in store.generations(run.id):
        values: dict[str, Any] = {
            "run": run.name, "generation": g.index, "best_fitness": g.best_fitness,
            "mean_fitness": g.mean_fitness, "std_fitness": g.std_fitness, "completed_at": g.completed_at,
        }  # fmt: skip
        values.update({f"timing.{part}": seconds for part, seconds in (g.timing or {}).items()})
        records.append(values)
    return records
