"""Rank a large run exactly while reading exact scores only for the entries that are shown.

``evo best`` shows the top k evolved entries and the fixed ones, with their ranks among all
of the run's entries; a run of E entries on T tasks holds E x T per-task totals. Ranking all
of them in Python (:func:`evo.search.aggregation.score_totals`, then
:func:`evo.search.aggregation.rank`) means
shipping E x T rows out of the database. Instead:

1. **Estimates.** One row per entry, aggregated in the database
   (:meth:`storage.Store.entry_estimates`): exact counts, so the entry's *class* (complete or
   not, NaN fitness or not: the first two keys of :func:`evo.search.aggregation.rank`) is exact; for a
   complete entry the mean of its values estimates F with ``|F' - F| <= delta``,
   ``delta = TOLERANCE * scale`` (``scale`` = the mean absolute value; the database's sums
   differ from ``math.fsum`` by at most ``(seeds + tasks + 2) * 2**-53 * scale``, which
   ``TOLERANCE`` = 1e-9 exceeds by orders of magnitude for any run). An incomplete entry
   has no estimate (``delta`` infinite): its class is one block.
2. **Blocks.** Within a finite class, the intervals ``[F' - delta, F' + delta]`` sorted by
   their upper ends, descending, are merged into blocks: maximal chains of overlapping
   intervals. Two entries of different blocks are ordered by F' as they are by F (their
   intervals are disjoint), so the blocks, in order, partition the exact ranking; only the
   order *inside* a block is unknown. A NaN class is ordered by key alone: every entry is its own block.
3. **Exact scores** (:meth:`storage.Store.task_totals` on those keys only, then
   :func:`evo.search.aggregation.score_totals`) for the blocks holding a shown entry or deciding which
   evolved entries are shown; each is sorted by :func:`evo.search.aggregation.rank`. An entry's rank
   is the size of the blocks before its own plus its place inside it.

The result is the ranking of :func:`evo.search.aggregation.rank` over every entry, exactly (same
order, same ranks, same scores), computed from E rows plus the shown blocks' totals. An
entry whose estimate is not finite although its class is (an overflow) makes
:func:`ranked_from_estimates` return None: the caller ranks everything the exact way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from evo.evidence.tuned import is_grid_point, tune_fixed
from evo.search.aggregation import EntryScore, rank, score_totals
from storage.records import EntryEstimate, RunEntry

if TYPE_CHECKING:
    from storage import Store

TOLERANCE = 1e-9
"""delta / scale: far above the sums' rounding (about 1e-16 per seed and task)."""

Order = tuple[bool, bool]
"""(not complete, NaN fitness): the class keys of :func:`evo.search.aggregation.rank`, in rank order."""
CLASSES: tuple[Order, ...] = ((False, False), (False, True), (True, False), (True, True))


def blocks(keys: Sequence[str], estimates: Mapping[str, tuple[Order, float, float]]) -> list[list[str]]:
    """``keys`` cut into blocks in rank order (step 2 of the module docstring).

    ``estimates``: key -> (class, F', delta); an exact F has delta 0.
    """
    by_class: dict[Order, list[str]] = {c: [] for c in CLASSES}
    for key in keys:
        by_class[estimates[key][0]].append(key)
    out: list[list[str]] = []
    for order in CLASSES:
        members = by_class[order]
        if order[1]:  # NaN fitness: ranked by key only
            out.extend([k] for k in sorted(members))
            continue
        members.sort(key=lambda k: (-(estimates[k][1] + estimates[k][2]), k))  # upper ends, descending
        low = math.inf  # a class starts a new block: it never joins the previous class's last one
        for key in members:
            _, value, delta = estimates[key]
            if low != math.inf and value + delta >= low:
                out[-1].append(key)
                low = min(low, value - delta)
            else:
                out.append([key])
                low = value - delta
    return out


def _estimate(est: EntryEstimate | None, cells: int) -> tuple[Order, float, float] | None:
    """(class, F', delta) of an entry from its SQL row (None: no stored result); None when
    the class is finite but the estimate is not (the caller then ranks exactly)."""
    if est is None:
        return (True, True), math.nan, 0.0
    order = (est.n_seeds != cells, est.n_nan > 0)
    if order[1]:
        return order, math.nan, 0.0
    if not (math.isfinite(est.fitness) and math.isfinite(est.scale)):
        return None
    if order[0]:  # incomplete: the plain mean weighs tasks by their seeds, so it bounds nothing
        return order, 0.0, math.inf
    return order, est.fitness, TOLERANCE * est.scale


def _exact(score: EntryScore) -> tuple[Order, float, float]:
    return (not score.complete, math.isnan(score.fitness)), score.fitness, 0.0


def ranked_from_estimates(
    store: Store,
    by_key: Mapping[str, RunEntry],
    budget_key: str,
    tasks: Sequence[str],
    seeds: Sequence[int],
    top_k: int,
    fixed_too: bool,
    run_id: int,
) -> tuple[list[tuple[int, EntryScore]], dict[str, dict[str, float]]] | None:
    """(rank, score) of the shown entries in rank order, and the lr multipliers chosen for
    tuned fixed entries; the same as ranking every entry with :func:`evo.search.aggregation.rank` and
    keeping the first ``top_k`` (with ``fixed_too``: the first ``top_k`` evolved entries and
    every fixed one). None when an estimate is not usable (see the module docstring).

    ``by_key``: every entry of run ``run_id`` (:meth:`storage.Store.run_entries`). A run with
    a ``fixed_lr_grid`` has its fixed entries scored exactly and tuned first
    (:func:`evo.evidence.tuned.tune_fixed`); its grid points are not ranked.
    """
    cells = len(tasks) * len(seeds)
    exact: dict[str, EntryScore] = {}
    chosen: dict[str, dict[str, float]] = {}
    entries = list(by_key.values())
    if any(is_grid_point(e) for e in entries):
        fixed = [e.entry_key for e in entries if e.is_fixed]
        scores = score_totals(store.task_totals(fixed, budget_key, tasks, seeds), fixed, tasks, seeds)
        rows = store.seed_results(fixed, budget_key, tasks, seeds)
        exact, chosen = tune_fixed(scores, rows, entries, tasks, seeds)
    keys = [k for k, e in by_key.items() if not is_grid_point(e)]
    rows_by_key = {r.entry_key: r for r in store.entry_estimates(budget_key, tasks, seeds, run_id)}
    estimates: dict[str, tuple[Order, float, float]] = {}
    for key in keys:
        value = _exact(exact[key]) if key in exact else _estimate(rows_by_key.get(key), cells)
        if value is None:
            return None
        estimates[key] = value

    needed: list[tuple[int, list[str]]] = []  # (position before the block, block)
    position = evolved_before = 0
    for block in blocks(keys, estimates):
        evolved = sum(not by_key[k].is_fixed for k in block)
        shows_evolved = evolved > 0 and evolved_before < top_k
        if (shows_evolved or evolved < len(block)) if fixed_too else position < top_k:
            needed.append((position, block))
        elif not fixed_too and position >= top_k:
            break
        position += len(block)
        evolved_before += evolved

    wanted = [k for _, block in needed for k in block if k not in exact]
    exact.update(score_totals(store.task_totals(wanted, budget_key, tasks, seeds), wanted, tasks, seeds))
    ranked = [
        (position + i, score)
        for position, block in needed
        for i, score in enumerate(rank(exact[k] for k in block), start=1)
    ]
    if fixed_too:
        evolved_keys = [s.entry_key for _, s in ranked if not by_key[s.entry_key].is_fixed][:top_k]
        shown = set(evolved_keys)
        return [(i, s) for i, s in ranked if s.entry_key in shown or by_key[s.entry_key].is_fixed], chosen
    return ranked[:top_k], chosen
