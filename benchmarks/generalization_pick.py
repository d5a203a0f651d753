"""Which evolved genome of a stored run the generalization benchmark tests: the rank-1 by
TRAINING fitness only (held-out rows are never read here).

The rankings (:mod:`evo.evidence.search_order`), both on the run's training tasks T and seeds S under its
budget key:

* ``search`` (default): the fitness the GA was told, over every complete evolved genome of the
  run at once (lr variants aggregated, then normalised); the genome ``evo export RUN`` writes.
* ``raw``: ``evo best``'s order (mean fitness at the genome's own lr; ``evo export --by mean``).
* ``search_recentred``: the ``search`` rank-1 with its lr times its training re-centring factor c(g)
  (:mod:`evo.search.lr_recentre`, the run's ``lr_recentre`` rule, ``geomean`` when it has none): the
  genome the GA would breed from. With ``min`` c is one of the run's multipliers, so that genome's
  training rows are stored; with ``geomean`` it may lie between them (not trained in the run).

Also returns the run's ``evaluation.steps`` (the benchmark's default horizon).
"""

from __future__ import annotations

from typing import Literal

from evo.config.schema import JobConfig
from evo.evidence.search_order import ranked_genomes
from evo.search.lr_recentre import recentre_factor, recentred
from evo.search.lr_variants import genome_variant_keys, seed_values
from optimizers.errors import EvoError, one_line
from optimizers.genome import Genome
from storage import Store


def pick(run: str, db: str, how: str = "search") -> tuple[Genome, float, int, dict]:
    """``(genome, its training fitness, run's evaluation steps, settings used)`` of the rank-1."""
    try:
        with Store(db, read_only=True) as store:
            record = store.get_run(run)
            cfg = JobConfig.model_validate(record.config)
            ranked = ranked_genomes(store, record, "mean" if how == "raw" else "search")
            if not ranked:
                raise SystemExit(f"error: run {run!r} has no evaluated genome")
            settings = {
                "pick": how, "tasks": list(cfg.tasks), "seeds": list(cfg.evaluation.seeds),
                "lr_multipliers": cfg.evaluation.lr_multipliers, "lr_aggregate": cfg.evaluation.lr_aggregate,
                "normalize": cfg.fitness.normalize,
            }  # fmt: skip
            top = ranked[0]
            if how == "raw":
                return top.genome, top.fitness, cfg.evaluation.steps, settings
            rule = cfg.evaluation.lr_recentre if cfg.evaluation.lr_recentre != "none" else "geomean"
            centre = _training_centre(store, cfg, top.entry_key, top.genome, rule)
            settings["training_lr_centre"] = centre
    except EvoError as exc:
        raise SystemExit(f"error: --run {run}: {one_line(exc)}") from None
    if how == "search_recentred" and centre is not None:
        settings["recentred_by"] = rule
        return recentred(top.genome, centre), top.fitness, cfg.evaluation.steps, settings
    return top.genome, top.fitness, cfg.evaluation.steps, settings


def _training_centre(
    store: Store, cfg: JobConfig, key: str, genome: Genome, rule: Literal["geomean", "min"]
) -> float | None:
    """c(g) of :mod:`evo.search.lr_recentre` on the training tasks (None with one lr multiplier):
    1 when the genome's own lr is, in log mean, its per-task tuned lr on the training tasks."""
    mults = cfg.evaluation.lr_multipliers
    if len(mults) < 2:
        return None
    keys = genome_variant_keys(genome, key, mults)
    values = seed_values(store.evaluations(keys, cfg.budget_key, tasks=list(cfg.tasks)))
    return recentre_factor([values.get(k, {}) for k in keys], mults, cfg.tasks, cfg.evaluation.seeds, rule)
