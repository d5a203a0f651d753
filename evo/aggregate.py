"""Pure helpers between worker results, stored rows and GA fitness.

Fitness of an entry (the seed's ``evaluate_genome_multi_task``):

.. math::

    F(e) = \\frac{1}{|T|} \\sum_{t \\in T} \\frac{1}{|S|} \\sum_{s \\in S} f(e, t, s)

over the run's tasks T and seeds S, where f is the stored seed fitness (accuracy plus the
loss bonus; -1 for a diverged or failed member). Fitness is always read back from the store,
so cached results (elites, genomes shared with fixed entries or other runs with the same
budget) count exactly like fresh ones. An entry with a missing (task, seed) gets NaN, which
the GA ranks last.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from pydantic import BaseModel

from storage.records import EvaluationIn
from workers.requests import EvalRequest, MemberResult

FAILED_FITNESS = -1.0
"""The seed's score for a member that diverged or whose evaluation failed."""


class ScoredRow(Protocol):
    """What :func:`per_task_fitness` reads from a stored evaluation."""

    entry_key: str
    task: str
    seed: int
    fitness: float


class PopulationStats(BaseModel):
    """Best, mean and (population) standard deviation of the finite fitness values."""

    best: float
    mean: float
    std: float


def per_task_fitness(
    rows: Iterable[ScoredRow], tasks: Sequence[str], seeds: Sequence[int]
) -> dict[str, dict[str, float]]:
    """``{entry_key: {task: mean over seeds}}``; NaN for a task missing any of ``seeds``.

    Rows for other tasks or seeds (the cache is shared between runs) are ignored.
    """
    wanted_tasks, wanted_seeds = set(tasks), set(seeds)
    by_entry: dict[str, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for row in rows:
        if row.task in wanted_tasks and row.seed in wanted_seeds:
            by_entry[row.entry_key][row.task][row.seed] = float(row.fitness)
    result: dict[str, dict[str, float]] = {}
    for key, per_task in by_entry.items():
        result[key] = {
            task: (
                math.fsum(per_task[task][s] for s in seeds) / len(seeds)
                if all(s in per_task[task] for s in seeds)
                else math.nan
            )
            for task in tasks
        }
    return result


def overall_fitness(per_task: dict[str, float], tasks: Sequence[str]) -> float:
    """Mean over ``tasks`` of the per-task fitness; NaN when any task is missing."""
    values = [per_task.get(task, math.nan) for task in tasks]
    if not values or any(math.isnan(v) for v in values):
        return math.nan
    return math.fsum(values) / len(values)


def entry_fitness(
    rows: Iterable[ScoredRow], keys: Iterable[str], tasks: Sequence[str], seeds: Sequence[int]
) -> dict[str, float]:
    """``{entry_key: F(entry)}`` for every key in ``keys`` (NaN where results are missing)."""
    table = per_task_fitness(rows, tasks, seeds)
    return {key: overall_fitness(table.get(key, {}), tasks) for key in keys}


def population_stats(fitness: Sequence[float]) -> PopulationStats:
    """Stats over the finite values; all NaN when there are none."""
    finite = [f for f in fitness if math.isfinite(f)]
    if not finite:
        return PopulationStats(best=math.nan, mean=math.nan, std=math.nan)
    mean = math.fsum(finite) / len(finite)
    var = math.fsum((f - mean) ** 2 for f in finite) / len(finite)
    return PopulationStats(best=max(finite), mean=mean, std=math.sqrt(var))


def member_metrics(member: MemberResult) -> dict[str, Any]:
    """The member's numbers as the stored ``metrics`` JSON (None values left out)."""
    metrics: dict[str, Any] = member.model_dump(
        include={"accuracy", "final_loss", "mean_last_losses", "steps_done", "loss_curve", "loss_curve_steps",
                 "escape_steps"},
        exclude_none=True,
    )
    metrics.update(member.extra)
    return metrics


def outcome_rows(
    request: EvalRequest,
    members: Sequence[MemberResult] | None,
    error: str | None,
    *,
    worker: str = "",
    device: str = "",
) -> list[EvaluationIn]:
    """One stored row per requested (entry, seed).

    ``members`` are the result's members (None when the executor gave up on the request
    with ``error``). Every requested (entry, seed) gets exactly one row: a member the result
    lacks becomes a failed row, so nothing requested is silently lost; members that were not
    requested are ignored.
    """
    by_pair = {(m.entry_key, m.seed): m for m in members or ()}
    rows: list[EvaluationIn] = []
    for entry in request.entries:
        for seed in request.seeds:
            member = by_pair.get((entry.key, seed))
            if member is None:
                reason = error or "the worker returned no result for this member"
                rows.append(
                    EvaluationIn(
                        entry_key=entry.key, task=request.task, seed=seed, budget_key=request.budget_key,
                        metrics={}, fitness=FAILED_FITNESS, status="failed", error=reason,
                        worker=worker, device=device, wall_time_s=0.0,
                    )
                )
                continue
            rows.append(
                EvaluationIn(
                    entry_key=entry.key, task=request.task, seed=seed, budget_key=request.budget_key,
                    metrics=member_metrics(member),
                    fitness=member.fitness,
                    status=member.status, error=member.error,
                    worker=worker, device=device, wall_time_s=member.wall_time_s,
                )
            )
    return rows
