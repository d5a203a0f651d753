"""The ``evaluation.funnel`` section: rungs of increasing cost (the funnel itself: :mod:`evo.search.funnel`).

A rung names the tasks, training seeds and steps it scores on and the fraction ``keep`` of
its climbers that go on to the next rung. Missing fields default to the job's
(``tasks``, ``evaluation.seeds``, ``evaluation.steps``); the last rung is the job's full
evaluation, so it may not change them (its ``keep`` is unused).

``evaluation.steps: [200, 1000]`` is sugar for
``funnel: [{steps: 200}, {steps: 1000}]`` with ``steps: 1000`` (the longer budget only on the
top rung): :func:`expand_step_list` rewrites it before validation.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_RUNG_STEPS = 10_000_000


class FunnelRung(BaseModel):
    """One rung: where it scores and how many of its climbers it promotes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tasks: list[str] | None = Field(None, min_length=1, description="Tasks (default: the job's).")
    seeds: list[int] | None = Field(None, min_length=1, description="Training seeds (default: the job's).")
    steps: int | None = Field(None, ge=1, le=MAX_RUNG_STEPS, description="Steps (default: the job's).")
    keep: float = Field(0.5, gt=0, le=1, description="Fraction of the rung's climbers promoted (rounded up).")

    @field_validator("tasks", "seeds")
    @classmethod
    def _distinct(cls, values: list[Any] | None) -> list[Any] | None:
        if values is not None and len(set(values)) != len(values):
            raise ValueError(f"must be distinct, got {values}")
        return values


def expand_step_list(evaluation: Any) -> Any:
    """``steps: [a, b, ...]`` -> ``steps: last`` and one rung per budget (see the module doc)."""
    if not isinstance(evaluation, dict) or not isinstance(evaluation.get("steps"), list):
        return evaluation
    steps = evaluation["steps"]
    if not steps:
        raise ValueError("steps: a list of budgets needs at least one value")
    if evaluation.get("funnel") is not None:
        raise ValueError("steps: give either a list of budgets or a funnel, not both")
    if any(not isinstance(s, int) or isinstance(s, bool) for s in steps) or steps != sorted(set(steps)):
        raise ValueError(f"steps: budgets must be increasing integers, got {steps}")
    if len(steps) == 1:
        return {**evaluation, "steps": steps[0]}
    return {**evaluation, "steps": steps[-1], "funnel": [{"steps": s} for s in steps]}


def check_funnel(funnel: list[FunnelRung], tasks: list[str], seeds: list[int], steps: int) -> None:
    """Raise ValueError unless every rung's tasks are job tasks and the last rung is the full evaluation."""
    for i, rung in enumerate(funnel):
        unknown = [t for t in rung.tasks or [] if t not in tasks]
        if unknown:
            raise ValueError(f"evaluation.funnel[{i}].tasks: {unknown[0]!r} is not one of the job's tasks")
    last = funnel[-1]
    for field, full in (("tasks", tasks), ("seeds", seeds), ("steps", steps)):
        value = getattr(last, field)
        if value is not None and value != full:
            raise ValueError(
                f"evaluation.funnel: the last rung is the full evaluation; its {field} must be the job's "
                f"({full}) or left out, got {value}"
            )
