"""Learning-rate variants: tuned fixed entries (``fixed_lr_grid``) and lr-robust genomes
(``evaluation.lr_multipliers``).

An entry trained at m times its learning rate is its own evaluation-cache entry:

* a genome (evolved, or a genome-kind fixed entry such as ``adam``) at m is the genome with
  ``lr_log10 + log10(m)``; its key is that genome's canonical hash, so it shares the cache
  with an identical evolved genome;
* an opaque fixed entry at m (its ``lr`` kwarg times m) has the key ``name@lr*m``
  (:func:`variant_key`), with ``EntrySpec.lr_scale = m``.

m = 1 is the entry itself: its key, and so every stored row and the budget key, are the
ones a run without a grid uses. Fixed-entry grid points are stored in generation -1 with
the label ``name@lr*m`` (:func:`grid_rows`); genome variants are not population members,
only extra evaluations (:func:`genome_variant_specs`).

Aggregation over the multipliers M of one entry, per task t (:func:`aggregate`):

* ``best`` (tuned): m*(t) = argmax_m of the task mean over seeds (finite means only, ties to
  the first m listed); the entry's seed values on t are those of m*(t);
* ``mean`` (robust): f(t, s) = mean over m of f_m(t, s).

The tuned score of a fixed entry is ``best`` over ``fixed_lr_grid`` on the selection split.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Literal

from optimizers.genome import Genome
from storage.records import IndividualIn

if TYPE_CHECKING:  # torch-backed: imported where used, so the read commands start without torch
    from optimizers.custom import CustomOptimizer
    from workers.requests import EntrySpec

SeedValues = dict[tuple[str, int], float]
GRID_MARK = "@lr*"


def variant_label(name: str, multiplier: float) -> str:
    """``name`` for m = 1, else ``name@lr*m`` (``%g``)."""
    return name if multiplier == 1.0 else f"{name}{GRID_MARK}{multiplier:g}"


def base_label(label: str) -> tuple[str, float]:
    """Inverse of :func:`variant_label`: ``("adam", 3.0)`` for ``adam@lr*3``."""
    name, mark, m = label.partition(GRID_MARK)
    return name, float(m) if mark else 1.0


def item_label(item: str | CustomOptimizer) -> str:
    """A fixed-entries item's table label: the registry name, or a custom entry's name."""
    return item if isinstance(item, str) else item.name


def fixed_variant(item: str | CustomOptimizer, multiplier: float) -> tuple[str, EntrySpec, Genome | None]:
    """(cache key, work-item spec, genome or None) of a fixed entry at ``multiplier``.

    A custom entry (:mod:`optimizers.custom`, key ``name@hash``) scales its ``lr`` kwarg like
    an opaque registry entry, under the key ``name@hash@lr*m``.
    """
    from optimizers.entry import scaled_genome
    from optimizers.registry import REGISTRY
    from workers.requests import EntrySpec

    if not isinstance(item, str):
        if multiplier == 1.0:
            return item.key, EntrySpec(key=item.key, custom=item), None
        key = variant_key(item.key, multiplier)
        return key, EntrySpec(key=key, custom=item, lr_scale=multiplier), None
    name = item
    entry = REGISTRY[name]
    if entry.genome is not None:
        genome = scaled_genome(entry.genome, multiplier)
        return genome.hash, EntrySpec(key=genome.hash, genome=genome.canonical()), genome
    key = variant_key(name, multiplier)
    return key, EntrySpec(key=key, fixed=name, lr_scale=multiplier), None


def variant_key(name: str, multiplier: float) -> str:
    """Cache key of opaque entry ``name`` at ``multiplier`` (the name itself for 1)."""
    return variant_label(name, multiplier)


def grid_rows(
    items: Iterable[str | CustomOptimizer], grid: Sequence[float], first_slot: int
) -> tuple[list[IndividualIn], dict[str, EntrySpec]]:
    """Generation -1 rows (label ``name@lr*m``) and specs of every grid point m != 1."""
    rows: list[IndividualIn] = []
    specs: dict[str, EntrySpec] = {}
    labels: set[str] = set()
    for name in items:
        if item_label(name) in labels:
            continue
        labels.add(item_label(name))
        for m in grid:
            if m == 1.0:
                continue
            key, spec, genome = fixed_variant(name, m)
            rows.append(
                IndividualIn(
                    slot=first_slot + len(rows), entry_key=key, genome=genome, origin="fixed",
                    label=variant_label(item_label(name), m),
                )
            )
            specs.setdefault(key, spec)
    return rows, specs


def entry_variant_key(entry_key: str, label: str | None, has_genome: bool, multiplier: float) -> str:
    """Cache key of a run's fixed entry (by its stored key and label) at ``multiplier``."""
    if multiplier == 1.0:
        return entry_key
    from optimizers.entry import scaled_genome
    from optimizers.registry import REGISTRY

    if has_genome and label in REGISTRY and REGISTRY[label].genome is not None:
        return scaled_genome(REGISTRY[label].genome, multiplier).hash  # type: ignore[arg-type]
    return variant_key(entry_key, multiplier)


def genome_variant_keys(genome: Genome, key: str, multipliers: Sequence[float]) -> list[str]:
    """The cache key of ``genome`` (whose key is ``key``) at each multiplier, in order."""
    from optimizers.entry import scaled_genome

    return [key if m == 1.0 else scaled_genome(genome, m).hash for m in multipliers]


def genome_variant_specs(
    genomes: Mapping[str, Genome], multipliers: Sequence[float]
) -> dict[str, EntrySpec]:
    """Specs of every genome's variants m != 1 (``genomes``: key -> genome)."""
    from optimizers.entry import scaled_genome
    from workers.requests import EntrySpec

    specs: dict[str, EntrySpec] = {}
    for genome in genomes.values():
        for m in multipliers:
            if m != 1.0:
                scaled = scaled_genome(genome, m)
                specs.setdefault(scaled.hash, EntrySpec(key=scaled.hash, genome=scaled.canonical()))
    return specs


def seed_values(rows: Iterable[object]) -> dict[str, SeedValues]:
    """``{entry_key: {(task, seed): fitness}}`` of stored rows."""
    values: dict[str, SeedValues] = defaultdict(dict)
    for row in rows:
        values[row.entry_key][(row.task, row.seed)] = float(row.fitness)  # type: ignore[attr-defined]
    return values


def _task_mean(values: SeedValues, task: str, seeds: Sequence[int]) -> float:
    cells = [values.get((task, s), math.nan) for s in seeds]
    return math.fsum(cells) / len(cells)


def best_multipliers(
    variants: Sequence[SeedValues], tasks: Sequence[str], seeds: Sequence[int]
) -> dict[str, int]:
    """Per task, the index of the variant with the best finite task mean (first on ties; -1: none)."""
    chosen: dict[str, int] = {}
    for t in tasks:
        means = [_task_mean(v, t, seeds) for v in variants]
        finite = [(mean, -i) for i, mean in enumerate(means) if math.isfinite(mean)]
        chosen[t] = -max(finite)[1] if finite else -1
    return chosen


def aggregate(
    variants: Sequence[SeedValues], how: Literal["best", "mean"], tasks: Sequence[str], seeds: Sequence[int]
) -> SeedValues:
    """One entry's seed values over its lr variants (see the module doc)."""
    if len(variants) == 1:
        return dict(variants[0])
    out: SeedValues = {}
    if how == "best":
        for t, i in best_multipliers(variants, tasks, seeds).items():
            for s in seeds:
                out[(t, s)] = variants[i].get((t, s), math.nan) if i >= 0 else math.nan
        return out
    for t in tasks:
        for s in seeds:
            cells = [v.get((t, s), math.nan) for v in variants]
            out[(t, s)] = math.fsum(cells) / len(cells)
    return out


def missing_pairs(
    stored: Mapping[str, SeedValues], keys: Iterable[str], tasks: Sequence[str], seeds: Sequence[int]
) -> list[tuple[str, str, int]]:
    """(key, task, seed) of ``keys`` without a stored row."""
    return [
        (k, t, s)
        for k in dict.fromkeys(keys)
        for t in tasks
        for s in seeds
        if (t, s) not in stored.get(k, {})
    ]
