"""What the GA is told: a population's fitness under the job's search settings (read from the store).

Pipeline per distinct population key e, on the run's tasks T and seeds S:

1. seed values of e's lr variants (``evaluation.lr_multipliers``; just e for ``[1]``),
   aggregated per task by ``evaluation.lr_aggregate`` (:func:`evo.search.lr_variants.aggregate`);
2. the reference's seed values for ``fitness.normalize: reference``: the reference fixed
   entry, tuned over ``fixed_lr_grid`` (``best``; itself when the grid is ``[1]``);
3. :func:`evo.search.normalize.normalized_fitness` over the population's entries.

With the defaults (``lr_multipliers: [1]``, ``normalize: none``) this is exactly
:func:`evo.search.aggregation.genome_fitness` (the seed's fitness; reproductions keep their numbers).
An entry missing any result gets NaN (the GA ranks it last; the driver fails first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from evo.config.fitness_mode import plain_mean_fitness
from evo.config.schema import JobConfig
from evo.search.aggregation import genome_fitness
from evo.search.lr_variants import (
    SeedValues,
    aggregate,
    fixed_variant,
    genome_variant_keys,
    genome_variant_specs,
    item_label,
    missing_pairs,
    seed_values,
)
from evo.search.normalize import normalized_fitness
from workers.requests import EntrySpec

if TYPE_CHECKING:
    from evo.search.ga import Individual
    from optimizers.genome import Genome
    from storage import Store


def is_default(cfg: JobConfig) -> bool:
    """True when the GA's fitness is the seed's plain mean (no variants, no normalisation)."""
    return plain_mean_fitness(cfg.model_dump(include={"evaluation", "fitness"}))


def _genomes(population: Sequence[Individual]) -> dict:
    return {ind.key: ind.genome for ind in population}


def extra_specs(cfg: JobConfig, population: Sequence[Individual]) -> dict[str, EntrySpec]:
    """Work-item specs the population needs besides its members: their lr variants."""
    return genome_variant_specs(_genomes(population), cfg.evaluation.lr_multipliers)


def missing_extra(store: Store, cfg: JobConfig, extra: dict[str, EntrySpec]) -> list[tuple[str, str, int]]:
    """(key, task, seed) of the extra specs not stored yet."""
    if not extra:
        return []
    stored = seed_values(store.evaluations(list(extra), cfg.budget_key, tasks=list(cfg.tasks)))
    return missing_pairs(stored, extra, cfg.tasks, cfg.evaluation.seeds)


def reference_keys(cfg: JobConfig) -> list[str]:
    """Cache keys the fitness reads besides the population's: the reference fixed entry at
    each ``fixed_lr_grid`` point for ``normalize: reference``; [] otherwise."""
    if cfg.fitness.normalize != "reference":
        return []
    item = next(i for i in cfg.fixed_entries if item_label(i) == cfg.fitness.reference)
    return [fixed_variant(item, m)[0] for m in cfg.fixed_lr_grid]


def variant_keys(cfg: JobConfig, population: Sequence[Individual]) -> dict[str, list[str]]:
    """``{key: the cache keys its fitness reads}`` per distinct key (its lr variants, m order)."""
    genomes = _genomes(population)
    return {k: genome_variant_keys(g, k, cfg.evaluation.lr_multipliers) for k, g in genomes.items()}


def reference_values(store: Store, cfg: JobConfig) -> SeedValues:
    """The reference fixed entry's seed values, tuned over ``fixed_lr_grid``."""
    keys = reference_keys(cfg)
    values = seed_values(store.evaluations(keys, cfg.budget_key, tasks=list(cfg.tasks)))
    return aggregate([values.get(k, {}) for k in keys], "best", cfg.tasks, cfg.evaluation.seeds)


def population_fitness(store: Store, cfg: JobConfig, population: Sequence[Individual]) -> list[float]:
    """Fitness per slot (see the module doc)."""
    keys = list(dict.fromkeys(ind.key for ind in population))
    tasks, seeds = cfg.tasks, cfg.evaluation.seeds
    if is_default(cfg):
        rows = store.evaluations(keys, cfg.budget_key, tasks=list(tasks))
        by_key = genome_fitness(rows, keys, tasks, seeds)
        return [by_key[ind.key] for ind in population]
    by_key = entry_fitness(store, cfg, _genomes(population))
    return [by_key[ind.key] for ind in population]


def entry_fitness(store: Store, cfg: JobConfig, genomes: Mapping[str, Genome]) -> dict[str, float]:
    """Fitness of ``genomes`` (cache key -> genome) read from stored rows: per task and seed
    the ``lr_aggregate`` of its lr variants, then :func:`~evo.search.normalize.normalized_fitness`
    over all of them (``rank`` ranks among exactly these entries)."""
    tasks, seeds = cfg.tasks, cfg.evaluation.seeds
    variants = {k: genome_variant_keys(g, k, cfg.evaluation.lr_multipliers) for k, g in genomes.items()}
    all_keys = [v for vs in variants.values() for v in vs]
    values = seed_values(store.evaluations(all_keys, cfg.budget_key, tasks=list(tasks)))
    per_entry = {
        k: aggregate([values.get(v, {}) for v in vs], cfg.evaluation.lr_aggregate, tasks, seeds)
        for k, vs in variants.items()
    }
    reference = reference_values(store, cfg) if cfg.fitness.normalize == "reference" else None
    return normalized_fitness(per_entry, tasks, seeds, cfg.fitness.normalize, reference)
