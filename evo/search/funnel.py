"""The task funnel: successive halving inside one GA generation (config: ``evaluation.funnel``).

Rungs r = 0..R-1 score on (tasks_r, seeds_r, steps_r) of increasing cost; the last rung is
the job's full evaluation (:mod:`evo.config.funnel_rungs`). Per generation:

* keys are grouped into **units** (:func:`climbing_units`): with ``evaluation.fingerprint``
  the keys sharing a functional fingerprint (:mod:`evo.search.dedup`) form one unit that climbs as
  one (its representative is trained, the others copy its rows at each rung it reaches, and
  all share its level); without it each key is its own unit;
* **exempt** units skip the funnel: those holding an elite (``origin == "elite"``) or a fixed
  entry (at generation 0 the seeded baselines), when its base top-rung results are all
  stored; they sit at level R-1 (their missing lr variants are trained at the top rung only);
* every other unit (slot order) is a **climber**. Climbers C_0 all run rung 0;
  C_{r+1} is the first ``max(1, ceil(keep_r * |C_r|))`` of C_r ranked by rung-r fitness
  (:func:`evo.search.selection.population_fitness` on the rung's scope over the climbers' keys: the
  lr variants are aggregated and the normalisation applied exactly as in the full
  evaluation; NaN last, ties by slot). A key's level is the last rung its unit ran.
* a rung trains whatever that fitness reads and is not stored: the climbers' keys at every
  ``evaluation.lr_multipliers`` (:func:`evo.search.selection.variant_keys`) and, for
  ``fitness.normalize: reference``, the reference entry at every ``fixed_lr_grid`` point
  (:func:`evo.search.selection.reference_keys`), so the reference is tuned and scored on the
  rung's tasks, seeds and steps (once: cached like every result);
* the GA is told :func:`evo.search.aggregation.funnel_fitness` of (level, fitness at that level):
  stopped climbers rank below every entry that went further, by their rung score.

Nothing is ever re-run: each rung trains only the (key, task, seed) not yet stored under
its budget key ``workers.requests.budget_key(steps_r, split)`` (a result is a pure function
of entry, task, seed, steps and split, so rungs with the same steps share results, and the
top rung shares the cache with runs without a funnel). Promotion reads only stored
results, the stored population (slots, origins) and the fingerprint index (rebuilt from the
stored populations on resume), so a resumed generation recomputes the same units, ranks and
levels as the uninterrupted one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from evo.search.aggregation import funnel_fitness, funnel_order
from evo.search.dedup import FingerprintIndex, copy_rows
from evo.search.selection import population_fitness, reference_keys, variant_keys
from workers.requests import budget_key

if TYPE_CHECKING:
    from evo.config.schema import JobConfig
    from evo.search.ga import Individual
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
        """Optimizer steps the climbers' levels stand for, lr variants included (cached or not;
        for reports; the reference's rung results and fingerprint copies not subtracted)."""
        return sum(
            len(r.cfg.tasks)
            * len(r.cfg.evaluation.seeds)
            * r.cfg.evaluation.steps
            * len(r.cfg.evaluation.lr_multipliers)
            for level in self.levels.values()
            for r in rungs[: level + 1]
        )


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


def run_rung(
    store: Store,
    cfg: JobConfig,
    missing: Missing,
    run_missing: RunMissing,
    prefix: str,
    dedup: FingerprintIndex | None = None,
) -> None:
    """Store every triple of ``missing`` under ``cfg``'s budget key: train them, or (with
    ``dedup``) train the representatives and copy their rows to the duplicates (:mod:`evo.search.dedup`).

    Raises:
        RuntimeError: a copy's representative row never came back (``run_missing`` raises first).
    """
    if dedup is None:
        run_missing(cfg, missing, prefix)
        return
    to_run, to_copy = dedup.split(missing)
    sources = still_missing(store, cfg, dedup.sources(to_copy))
    run_missing(cfg, list(dict.fromkeys([*map(tuple, to_run), *sources])), prefix)
    copy_rows(store, dedup, to_copy, cfg.budget_key)
    lost = still_missing(store, cfg, to_copy)
    if lost:
        raise RuntimeError(f"{len(lost)} fingerprint copies found no representative row, e.g. {lost[0]}")


def climbing_units(keys: Sequence[str], dedup: FingerprintIndex | None) -> dict[str, list[str]]:
    """``{unit: its keys}``: keys grouped by fingerprint representative (each key alone without
    ``dedup``); units keyed by their first key, in order of first key."""
    units: dict[str, list[str]] = {}
    by_rep: dict[str, str] = {}
    for k in keys:
        rep = dedup.of_key.get(k, k) if dedup is not None else k
        units.setdefault(by_rep.setdefault(rep, k), []).append(k)
    return units


def exempt_units(
    store: Store,
    top: Rung,
    units: dict[str, list[str]],
    population: Sequence[Individual],
    fixed: set[str],
    dedup: FingerprintIndex | None = None,
) -> set[str]:
    """Units that skip the funnel: those holding an elite or a fixed entry (or whose fingerprint
    representative is a fixed entry) whose base top-rung results are all stored (the
    representative's, whose rows a duplicate copies)."""
    elites = {i.key for i in population if i.origin == "elite"}
    rep = {k: (dedup.of_key.get(k, k) if dedup is not None else k) for ks in units.values() for k in ks}
    exempt = set()
    for unit, keys in units.items():
        candidates = [k for k in keys if k in elites or k in fixed or rep[k] in fixed]
        if any(not missing_at(store, top, [rep[k]]) for k in candidates):
            exempt.add(unit)
    return exempt


def climb(
    store: Store,
    population: Sequence[Individual],
    ladder: Sequence[Rung],
    run_missing: RunMissing,
    *,
    fixed: set[str] = frozenset(),  # type: ignore[assignment]
    dedup: FingerprintIndex | None = None,
) -> FunnelResult:
    """Evaluate the generation through the funnel; returns levels, rung scores and told fitness.

    ``run_missing`` must store every result it is given (or raise). See the module doc.
    """
    first: dict[str, Individual] = {}
    for ind in population:
        first.setdefault(ind.key, ind)
    top = ladder[-1]
    units = climbing_units(list(first), dedup)
    exempt = exempt_units(store, top, units, population, fixed, dedup)
    levels: dict[str, int] = {}
    scores: dict[str, float] = {}
    climbers = [u for u in units if u not in exempt]
    for rung in ladder:
        if rung is top:
            climbers += [u for u in units if u in exempt]  # ranked (normalised) together at the top
        if not climbers:
            continue
        members = [first[k] for u in climbers for k in units[u]]
        needed = [v for vs in variant_keys(rung.cfg, members).values() for v in vs]
        needed += reference_keys(rung.cfg)
        run_rung(store, rung.cfg, missing_at(store, rung, list(dict.fromkeys(needed))), run_missing,
                 f"f{rung.index}", dedup)  # fmt: skip
        values = population_fitness(store, rung.cfg, members)
        fitness = dict(zip((i.key for i in members), values, strict=True))
        for k, f in fitness.items():
            levels[k], scores[k] = rung.index, f
        if rung is not top:
            climbers = promoted(climbers, [fitness[u] for u in climbers], rung.keep)
    return FunnelResult(levels=levels, scores=scores, told=funnel_fitness(levels, scores))
