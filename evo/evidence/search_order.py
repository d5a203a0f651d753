"""A run's evolved genomes in the order its GA ranked them (what ``evo export`` exports).

Two orders of one run's genomes on its training tasks T and seeds S:

* ``mean`` (``evo best``'s table, :func:`evo.evidence.ranking.best`): each genome's mean fitness at its
  own lr, comparable with the fixed entries' rows.
* ``search``: the fitness the GA selected on (:func:`evo.search.selection.entry_fitness`), taken over
  every complete evolved genome of the run at once: per task, the genome's seed values over
  its lr variants ``evaluation.lr_multipliers`` aggregated by ``lr_aggregate``, then normalised
  by ``fitness.normalize`` over that set (so a task's spread is the run's, not one
  generation's). Ties: the larger cache key first, for a stable order.

With the default search settings (``lr_multipliers: [1]``, ``normalize: none``,
:func:`plain_mean_fitness`) the GA's fitness is the plain mean, so ``search`` is defined
as ``mean``'s order and the two never disagree. With lr-robust or normalised fitness they can
(a genome that is best at its own lr is not always the one whose rule is best over 0.3x..3x
its lr), and a user exporting "the winner" of such a run wants the GA's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from evo.config.fitness_mode import plain_mean_fitness

if TYPE_CHECKING:
    from optimizers.genome import Genome
    from storage import Store
    from storage.records import RunRecord

RankBy = Literal["search", "mean"]
"""This module imports the ranking and selection stack only when called, so the CLI can name
:data:`RankBy` at start-up for free."""


@dataclass(frozen=True)
class SearchRanked:
    """One evolved genome and the fitness it is ranked by."""

    entry_key: str
    genome: Genome
    fitness: float


def ranked_genomes(store: Store, run: RunRecord, by: RankBy = "search") -> list[SearchRanked]:
    """The run's evolved genomes, best first, by ``search`` or ``mean`` (module docstring)."""
    from evo.config.stored_view import stored_config
    from evo.evidence.ranking import best
    from evo.search.selection import entry_fitness

    evolved = [e for e in best(store, run.id, top_k=None) if not e.is_fixed and e.genome is not None]
    if by == "mean" or plain_mean_fitness(run.config):
        return [SearchRanked(e.entry_key, e.genome, e.fitness) for e in evolved]
    cfg = stored_config(run)
    genomes = {e.entry_key: e.genome for e in evolved}
    fitness = entry_fitness(store, cfg, genomes)
    finite = {k: v for k, v in fitness.items() if math.isfinite(v)}
    order = sorted(finite, key=lambda k: (finite[k], k), reverse=True)
    return [SearchRanked(k, genomes[k], finite[k]) for k in order]
