"""The task funnel: successive halving inside one GA generation (config: ``evaluation.funnel``).

Rungs r = 0..R-1 score on (tasks_r, seeds_r, steps_r) of increasing cost; the last rung is
the job's full evaluation (:mod:`evo.funnel_config`). Per generation:

* **exempt** keys skip the funnel: elites (``origin == "elite"``) and, at generation 0, the
  fixed entries, when all their top-rung results are stored; they sit at level R-1;
* every other distinct key (slot order) is a **climber**. Climbers C_0 all run rung 0;
  C_{r+1} is the first ``max(1, ceil(keep_r * |C_r|))`` of C_r ranked by rung-r fitness
  (:func:`evo.selection.population_fitness` on the rung's scope, so the normalisation
  applies; NaN last, ties by slot). A climber's level is the last rung it ran.
* the GA is told :func:`evo.fitness.funnel_fitness` of (level, fitness at that level):
  stopped climbers rank below every entry that went further, by their rung score.

Nothing is ever re-run: each rung trains only the (key, task, seed) not yet stored under
its budget key ``workers.requests.budget_key(steps_r, split)`` (a result is a pure function
of entry, task, seed, steps and split, so rungs with the same steps share results, and the
top rung shares the cache with runs without a funnel). Promotion reads only stored
results and the stored population (slots, origins), so a resumed generation recomputes
the same climbers, ranks and levels as the uninterrupted one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from evo.fitness import funnel_fitness, funnel_order
from evo.selection import population_fitness
from workers.requests import budget_key

if TYPE_CHECKING:
    from evo.config import JobConfig
    from evo.ga import Individual
    from storage import Store

Missing = list[tuple[str, str, int]]
RunMissing = Callable[["JobConfig", Missing, str], None]
"""The driver's evaluator: (rung config, missing triples, request-id prefix) -> None, results stored."""


@dataclass(frozen=True)
class Rung:
    """One rung as a job config of its own (its tasks, seeds and steps) plus ``keep``."""

    index: int
    cfg: JobConfig
    keep: float

    @property
    def budget_key(self) -> str:
        return budget_key(self.cfg.evaluation.steps, self.cfg.evaluation.selection_split)


@dataclass(frozen=True)
class FunnelResult:
    """Per distinct key: the last rung reached, the fitness there, and the told fitness."""

    levels: dict[str, int]
    scores: dict[str, float]
    told: dict[str, float]

    def model_steps(self, rungs: Sequence[Rung]) -> int:
        """Optimizer steps the climbers' levels stand for (cached or not; for reports)."""
        return sum(
            len(r.cfg.tasks) * len(r.cfg.evaluation.seeds) * r.cfg.evaluation.steps
            for level in self.levels.values()
            for r in rungs[: level + 1]
        )


def check_supported(cfg: JobConfig) -> None:
    """Raise ValueError for settings the funnel does not combine with (yet)."""
    if cfg.evaluation.lr_multipliers != [1.0]:
        raise ValueError("evaluation.funnel does not combine with evaluation.lr_multipliers (yet)")
    if cfg.fitness.normalize == "reference":
        raise ValueError("evaluation.funnel does not combine with fitness.normalize: reference (yet)")
    if cfg.evaluation.fingerprint:
        raise ValueError("evaluation.funnel does not combine with evaluation.fingerprint (yet)")


def rungs(cfg: JobConfig) -> list[Rung]:
    """The job's rungs (missing fields filled in from the job); [] without a funnel."""
    out = []
    for i, rung in enumerate(cfg.evaluation.funnel or []):
        evaluation = cfg.evaluation.model_copy(
            update={
                "seeds": list(rung.seeds or cfg.evaluation.seeds),
                "steps": rung.steps or cfg.evaluation.steps,
                "funnel": None,
            }
        )
        rung_cfg = cfg.model_copy(update={"tasks": list(rung.tasks or cfg.tasks), "evaluation": evaluation})
        out.append(Rung(index=i, cfg=rung_cfg, keep=rung.keep))
    return out


def missing_at(store: Store, rung: Rung, keys: Sequence[str]) -> Missing:
    """(key, task, seed) of ``keys`` not stored under the rung's budget key (keys, tasks, seeds order)."""
    if not keys:
        return []
    tasks, seeds = rung.cfg.tasks, rung.cfg.evaluation.seeds
    rows = store.evaluations(list(keys), rung.budget_key, tasks=tasks)
    done = {(r.entry_key, r.task, r.seed) for r in rows}
    return [(k, t, s) for k in keys for t in tasks for s in seeds if (k, t, s) not in done]


def still_missing(store: Store, cfg: JobConfig, missing: Missing) -> Missing:
    """The triples of ``missing`` still not stored under ``cfg``'s budget key."""
    if not missing:
        return []
    keys = list(dict.fromkeys(k for k, _t, _s in missing))
    done = {(r.entry_key, r.task, r.seed) for r in store.evaluations(keys, cfg.budget_key)}
    return [m for m in missing if tuple(m) not in done]


def promoted(keys: Sequence[str], fitness: Sequence[float], keep: float) -> list[str]:
    """The first ``max(1, ceil(keep * n))`` keys by fitness (NaN last; ties keep the given order)."""
    n = max(1, math.ceil(keep * len(keys) - 1e-9))
    order = sorted(range(len(keys)), key=lambda i: (funnel_order(0, fitness[i]), i))
    return [keys[i] for i in sorted(order[:n])]


def exempt_keys(store: Store, top: Rung, population: Sequence[Individual], fixed: set[str]) -> set[str]:
    """Elites (and fixed entries) whose top-rung results are all stored: they skip the funnel."""
    candidates = list(dict.fromkeys(i.key for i in population if i.origin == "elite" or i.key in fixed))
    incomplete = {k for k, _t, _s in missing_at(store, top, candidates)}
    return {k for k in candidates if k not in incomplete}


def climb(
    store: Store,
    population: Sequence[Individual],
    ladder: Sequence[Rung],
    run_missing: RunMissing,
    *,
    fixed: set[str] = frozenset(),  # type: ignore[assignment]
) -> FunnelResult:
    """Evaluate the generation through the funnel; returns levels, rung scores and told fitness.

    ``run_missing`` must store every result it is given (or raise). See the module doc.
    """
    first: dict[str, Individual] = {}
    for ind in population:
        first.setdefault(ind.key, ind)
    top = ladder[-1]
    exempt = exempt_keys(store, top, population, fixed)
    levels: dict[str, int] = {}
    scores: dict[str, float] = {}
    climbers = [k for k in first if k not in exempt]
    for rung in ladder:
        if rung is top:
            climbers += [k for k in first if k in exempt]  # ranked (normalised) together at the top
        if not climbers:
            continue
        run_missing(rung.cfg, missing_at(store, rung, climbers), f"f{rung.index}")
        fitness = population_fitness(store, rung.cfg, [first[k] for k in climbers])
        for k, f in zip(climbers, fitness, strict=True):
            levels[k], scores[k] = rung.index, f
        if rung is not top:
            climbers = promoted(climbers, fitness, rung.keep)
    return FunnelResult(levels=levels, scores=scores, told=funnel_fitness(levels, scores))
