"""Learning-rate re-centring of parents (``evaluation.lr_recentre: none | geomean | min``; default none).

With ``evaluation.lr_multipliers`` M (e.g. [0.3, 1, 3]) each genome g is trained at m * lr(g)
for every m in M. With ``lr_aggregate: best`` its score on task t is that of its best
multiplier there, so g's fitness says nothing about whether its *own* lr is right: a rule
whose lr is 3x too large scores the same as the rule at the right lr. Re-centring makes the
genome's own lr its lr tuned on the training tasks T, for the genomes the GA breeds from.

Per task t, m*(t) is the multiplier with the best task mean over the training seeds
(:func:`evo.search.lr_variants.best_multipliers`; finite means only, first listed on ties). The
parent's re-centring multiplier, over the tasks T' with a finite choice, is for ``geomean``
their geometric mean and for ``min`` the smallest,

.. math::

    c_{geomean}(g) = \\exp\\Big(\\frac1{|T'|} \\sum_{t \\in T'} \\ln m^*(t)\\Big), \\qquad
    c_{min}(g) = \\min_{t \\in T'} m^*(t), \\qquad T' = \\{t \\in T : m^*(t) \\text{ defined}\\}:

the single lr factor closest, in squared log distance, to the per-task tuned lrs, or the
most conservative one (the own lr is then no larger than any training task's tuned lr). Breeding uses
g with ``lr_log10 + log10 c(g)`` (:func:`optimizers.entry.scaled_genome`, clamped to the genome's
lr range); c = 1 (every task tuned at 1x, or T' empty, e.g. a genome the funnel stopped early)
leaves g as it is. Only crossover parents are re-centred: elites are copied unchanged, so
they are not re-evaluated and the best genome is never lost. The multipliers are read from the
store, so a resumed run re-centres exactly as the uninterrupted one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

from evo.search.lr_variants import SeedValues, best_multipliers, genome_variant_keys, seed_values
from optimizers.genome import Genome

if TYPE_CHECKING:
    from evo.config.schema import JobConfig
    from evo.search.ga import Individual
    from storage import Store


def recentre_factor(
    variants: Sequence[SeedValues],
    multipliers: Sequence[float],
    tasks: Sequence[str],
    seeds: Sequence[int],
    how: Literal["geomean", "min"] = "geomean",
) -> float:
    """c(g) of the module doc; ``variants[i]``: one genome's seed values at ``multipliers[i]``."""
    chosen = [i for i in best_multipliers(variants, tasks, seeds).values() if i >= 0]
    if not chosen:
        return 1.0
    if how == "min":
        return min(multipliers[i] for i in chosen)
    return math.exp(math.fsum(math.log(multipliers[i]) for i in chosen) / len(chosen))


def recentred(genome: Genome, factor: float) -> Genome:
    """``genome`` with its lr times ``factor`` (itself for a factor of 1)."""
    from optimizers.entry import scaled_genome

    return genome if factor == 1.0 else scaled_genome(genome, factor)


def recentre_factors(
    values: Mapping[str, SeedValues],
    genomes: Mapping[str, Genome],
    multipliers: Sequence[float],
    tasks: Sequence[str],
    seeds: Sequence[int],
    how: Literal["geomean", "min"] = "geomean",
) -> dict[str, float]:
    """``{key: c(g)}`` for ``genomes`` (key -> genome) from stored seed values by cache key."""
    factors: dict[str, float] = {}
    for key, genome in genomes.items():
        keys = genome_variant_keys(genome, key, multipliers)
        factors[key] = recentre_factor([values.get(k, {}) for k in keys], multipliers, tasks, seeds, how)
    return factors


def recentred_parents(store: Store, cfg: JobConfig, population: Sequence[Individual]) -> list[Genome] | None:
    """The genome to breed from per slot (re-centred), or None when ``lr_recentre`` is none."""
    how = cfg.evaluation.lr_recentre
    if how == "none":
        return None
    multipliers, tasks, seeds = cfg.evaluation.lr_multipliers, cfg.tasks, cfg.evaluation.seeds
    genomes = {ind.key: ind.genome for ind in population}
    keys = [k for key, g in genomes.items() for k in genome_variant_keys(g, key, multipliers)]
    values = seed_values(store.evaluations(keys, cfg.budget_key, tasks=list(tasks)))
    factors = recentre_factors(values, genomes, multipliers, tasks, seeds, how)
    return [recentred(ind.genome, factors[ind.key]) for ind in population]
