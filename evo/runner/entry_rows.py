"""A run's entries as stored rows and work-item specs: the population's and the fixed ones."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from optimizers.custom import CustomOptimizer
from optimizers.registry import REGISTRY
from storage.records import IndividualIn
from workers.requests import EntrySpec

if TYPE_CHECKING:
    from evo.search.ga import Individual


def genome_spec(individual: Individual) -> EntrySpec:
    """The work-item entry of a population member (canonical genome, canonical hash)."""
    return EntrySpec(key=individual.key, genome=individual.genome.canonical())


def population_individuals(population: Sequence[Individual]) -> list[IndividualIn]:
    """Rows for :meth:`Store.save_generation`, slot = position in the population."""
    return [
        IndividualIn(
            slot=slot, entry_key=ind.key, genome=ind.genome, origin=ind.origin, parents=list(ind.parents)
        )
        for slot, ind in enumerate(population)
    ]


def fixed_entries(
    items: Iterable[str | CustomOptimizer],
) -> tuple[list[IndividualIn], dict[str, EntrySpec]]:
    """Generation -1 rows and work-item specs of the fixed entries (duplicates dropped).

    Genome-kind entries key on their genome hash (sharing the cache with identical evolved
    genomes); opaque ones on their registry name; a user's optimizer on ``name@hash``
    (:mod:`optimizers.custom`), labelled by its name. The names are registry names: the
    job config checks that (``JobConfig.fixed_entries``), here a bad one is a KeyError.
    """
    rows: list[IndividualIn] = []
    specs: dict[str, EntrySpec] = {}
    labels: set[str] = set()
    for item in items:
        if isinstance(item, CustomOptimizer):
            name, genome = item.name, None
            key, spec = item.key, EntrySpec(key=item.key, custom=item)
        else:
            name, genome = item, REGISTRY[item].genome
            if genome is not None:
                key, spec = genome.hash, EntrySpec(key=genome.hash, genome=genome.canonical())
            else:
                key, spec = name, EntrySpec(key=name, fixed=name)
        if name in labels:
            continue
        labels.add(name)
        rows.append(IndividualIn(slot=len(rows), entry_key=key, genome=genome, origin="fixed", label=name))
        specs.setdefault(key, spec)
    return rows, specs
