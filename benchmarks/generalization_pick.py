"""Which evolved genome of a stored run the generalization benchmark tests: the rank-1 by
TRAINING fitness only (held-out rows are never read here).

Two rankings, both on the run's training tasks T and seeds S under its budget key:

* ``search`` (default): the fitness the GA was told (:mod:`evo.selection`), taken over every
  evolved genome of the run at once: per task, each genome's seed values over its lr variants
  ``evaluation.lr_multipliers`` aggregated by ``lr_aggregate`` (:func:`evo.lr_variants.aggregate`),
  then :func:`evo.normalize.normalized_fitness` with the run's ``fitness.normalize`` over the set
  E of all complete evolved genomes (so the task spread sigma_t is the run's, not one
  generation's). With ``lr_multipliers: [1]`` and ``normalize: none`` this is ``evo best``'s order.
* ``raw``: ``evo best``'s order (:func:`evo.ranking.best`: mean fitness at the genome's own lr).

Also returns the run's ``evaluation.steps`` (the benchmark's default horizon).
"""

from __future__ import annotations

import math

from evo.config import JobConfig
from evo.ranking import best
from evo.selection import entry_fitness
from optimizers.errors import EvoError, one_line
from optimizers.genome import Genome
from storage import Store


def pick(run: str, db: str, how: str = "search") -> tuple[Genome, float, int, dict]:
    """``(genome, its training fitness, run's evaluation steps, settings used)`` of the rank-1."""
    try:
        with Store(db, read_only=True) as store:
            record = store.get_run(run)
            cfg = JobConfig.model_validate(record.config)
            evolved = [e for e in best(store, run, top_k=None) if not e.is_fixed and e.genome is not None]
            if not evolved:
                raise SystemExit(f"error: run {run!r} has no evaluated genome")
            settings = {
                "pick": how, "tasks": list(cfg.tasks), "seeds": list(cfg.evaluation.seeds),
                "lr_multipliers": cfg.evaluation.lr_multipliers, "lr_aggregate": cfg.evaluation.lr_aggregate,
                "normalize": cfg.fitness.normalize,
            }  # fmt: skip
            if how == "raw":
                return evolved[0].genome, evolved[0].fitness, cfg.evaluation.steps, settings
            fitness = entry_fitness(store, cfg, {e.entry_key: e.genome for e in evolved})
    except EvoError as exc:
        raise SystemExit(f"error: --run {run}: {one_line(exc)}") from None
    genomes = {e.entry_key: e.genome for e in evolved}
    finite = {k: v for k, v in fitness.items() if math.isfinite(v)}
    key = max(finite, key=lambda k: (finite[k], k))
    return genomes[key], finite[key], cfg.evaluation.steps, settings
