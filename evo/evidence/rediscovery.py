"""Rediscovery: the generation at which the search first matches tuned Adam (``population.init: random``).

With a random initial population the baselines are not in generation 0; a search that works
should find an update rule at least as good as Adam on its own. Given the best evolved
fitness F*_g of each generation g (the run's ranking fitness, :mod:`evo.search.aggregation`) and Adam's
fitness F_adam on the same tasks and seeds (lr-tuned when the run has a ``fixed_lr_grid``),
the rediscovery generation is min { g : max_{g' <= g} F*_{g'} >= F_adam } (None: never).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

REFERENCE_LABEL = "adam"


def rediscovery_generation(best_by_generation: Iterable[tuple[int, float]], target: float) -> int | None:
    """The first generation whose best-so-far fitness reaches ``target`` (None: never, or NaN target)."""
    if math.isnan(target):
        return None
    for generation, fitness in sorted(best_by_generation):
        if math.isfinite(fitness) and fitness >= target:
            return generation
    return None


def rediscovery_line(best_by_generation: Sequence[tuple[int, float]], fixed: Iterable[object]) -> str | None:
    """The report's line, or None when the run has no ``adam`` fixed entry."""
    adam = next((e for e in fixed if getattr(e, "label", None) == REFERENCE_LABEL), None)
    if adam is None:
        return None
    target = float(adam.fitness)  # type: ignore[attr-defined]
    what = f"{'tuned Adam' if getattr(adam, 'lr_tuned', None) else 'Adam'} ({target:.4f})"
    g = rediscovery_generation(best_by_generation, target)
    if g is None:
        return f"- rediscovery: no generation's best genome reached {what}"
    return f"- rediscovery: the best genome first matches {what} at generation {g}"
