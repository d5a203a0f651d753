"""Worker results -> stored evaluation rows: one row per requested (entry, seed), never fewer.

Fitness itself (seed -> task -> genome) is :mod:`evo.search.aggregation`; the per-seed value arrives
computed by the worker (:mod:`workers.fitness`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from storage.records import EvaluationIn
from workers.requests import EvalRequest, MemberResult

FAILED_FITNESS = -1.0
"""The seed's score for a member that diverged or whose evaluation failed."""


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
