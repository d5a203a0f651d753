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
from evo.lr_variants import aggregate, genome_variant_keys, seed_values
from evo.normalize import normalized_fitness
from evo.ranking import best
from evo.selection import reference_values
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
            fitness = _search_fitness(store, cfg, {e.entry_key: e.genome for e in evolved})
    except EvoError as exc:
        raise SystemExit(f"error: --run {run}: {one_line(exc)}") from None
    genomes = {e.entry_key: e.genome for e in evolved}
    finite = {k: v for k, v in fitness.items() if math.isfinite(v)}
    key = max(finite, key=lambda k: (finite[k], k))
    return genomes[key], finite[key], cfg.evaluation.steps, settings


def _search_fitness(store: Store, cfg: JobConfig, genomes: dict[str, Genome]) -> dict[str, float]:
    """The GA's fitness (see the module doc) of ``genomes`` (key -> genome), over all of them."""
    tasks, seeds = cfg.tasks, cfg.evaluation.seeds
    variant_keys = {k: genome_variant_keys(g, k, cfg.evaluation.lr_multipliers) for k, g in genomes.items()}
    all_keys = [v for vs in variant_keys.values() for v in vs]
    values = seed_values(store.evaluations(all_keys, cfg.budget_key, tasks=list(tasks)))
    per_entry = {
        k: aggregate([values.get(v, {}) for v in vs], cfg.evaluation.lr_aggregate, tasks, seeds)
        for k, vs in variant_keys.items()
    }
    reference = reference_values(store, cfg) if cfg.fitness.normalize == "reference" else None
    return normalized_fitness(per_entry, tasks, seeds, cfg.fitness.normalize, reference)
