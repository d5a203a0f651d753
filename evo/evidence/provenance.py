"""What ``evo export`` records in an exported file's header (:class:`optimizers.export.Provenance`).

From a run: the first generation holding the genome and that individual's parents, the
run's tasks/seeds/budget, and the fitness (overall and per task) of the genome next to the
run's fixed entries, all scored on that same scope. From a registry name: the entry alone.
"""

from __future__ import annotations

from evo.evidence.known_rule import known_name
from evo.evidence.ranking import best
from optimizers.export import FitnessRow, Provenance
from optimizers.genome import Genome
from storage import Store
from storage.records import RunRecord


def run_provenance(store: Store, run: RunRecord, genome: Genome) -> Provenance:
    """Provenance of ``genome`` within ``run`` (generation None if no generation holds it)."""
    generation, parents = None, []
    for record in store.generations(run.id):
        found = [
            i
            for i in store.individuals(run.id, record.index)
            if i.genome is not None and i.genome.hash == genome.hash
        ]
        if found:
            generation, parents = record.index, list(found[0].parents)
            break
    ranked = best(store, run.id, top_k=None)
    rows = [
        FitnessRow(name=f"exported {genome.hash[:10]}", fitness=e.fitness, per_task=e.per_task)
        for e in ranked
        if e.genome is not None and e.genome.hash == genome.hash
    ][:1]
    rows += [
        FitnessRow(name=e.label or e.entry_key, fitness=e.fitness, per_task=e.per_task)
        for e in ranked
        if e.is_fixed
    ]
    return Provenance(
        source=f"run {run.name}", run=run.name, generation=generation, parents=parents,
        tasks=list(run.scope.tasks), seeds=list(run.scope.seeds), budget=run.scope.budget_key, fitness=rows,
        known_as=known_name(genome),
    )  # fmt: skip


def registry_provenance(name: str, genome: Genome | None = None) -> Provenance:
    """A registry entry's provenance: its name, and the known optimizer its genome is."""
    return Provenance(
        source=f"fixed entry {name!r} of evo's optimizer registry (no run)",
        known_as=None if genome is None else known_name(genome),
    )
