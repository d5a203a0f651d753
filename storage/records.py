"""Frozen records in and out of the store (never live ORM rows).

``*In`` records are what callers write; the others are snapshots the store returns. A record
validates what the schema cannot say: an individual's ``entry_key`` is its genome's canonical
hash, an opaque (genome-less) entry is a fixed comparison entry, a run's scope is non-empty.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal, NamedTuple, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from optimizers.genome import Genome

RunStatus = Literal["running", "paused", "finished", "failed"]
Origin = Literal["init", "elite", "crossover", "mutation", "fixed"]
EvalStatus = Literal["ok", "diverged", "failed"]
"""The status and origin vocabularies, written here only (the schema's CHECKs use the tuples)."""

RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)
ORIGINS: tuple[str, ...] = get_args(Origin)
EVAL_STATUSES: tuple[str, ...] = get_args(EvalStatus)
FIXED_GENERATION = -1
"""The generation index under which a run's fixed comparison entries are saved."""

KEY_LENGTH = 64
"""Longest entry key, task or label (genome hashes are 16 hex digits, registry names short)."""
NAME_LENGTH = 200
BUDGET_KEY_LENGTH = 255


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def finite_json(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (JSON has no NaN or infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    return value


class RunScope(_Frozen):
    """What a run's entries are scored on: every (task, seed) pair under one budget key."""

    tasks: list[str] = Field(min_length=1, description="Task names, in report order.")
    seeds: list[int] = Field(min_length=1, description="Training seeds per task.")
    budget_key: str = Field(min_length=1, max_length=BUDGET_KEY_LENGTH, description="Evaluation budget.")
    holdout_tasks: list[str] = Field(default_factory=list, description="Tasks scored, never selected on.")
    holdout_budget_key: str | None = Field(
        None, min_length=1, max_length=BUDGET_KEY_LENGTH, description="Budget of the held-out evaluations."
    )

    @field_validator("tasks", "seeds", "holdout_tasks")
    @classmethod
    def _unique(cls, values: list[Any]) -> list[Any]:
        if len(set(values)) != len(values):
            raise ValueError(f"duplicates in {values}")
        return values

    @field_validator("tasks", "holdout_tasks")
    @classmethod
    def _task_names(cls, tasks: list[str]) -> list[str]:
        for task in tasks:
            if not task or len(task) > KEY_LENGTH:
                raise ValueError(f"task names need 1..{KEY_LENGTH} characters, got {task!r}")
        return tasks


class RunRecord(_Frozen):
    """A stored run. ``schema_version`` is the store schema that created it."""

    id: int
    name: str
    config: dict[str, Any]
    scope: RunScope
    status: RunStatus
    seed: int
    created_at: datetime
    updated_at: datetime
    schema_version: int
    lease_owner: str | None = None
    lease_heartbeat: datetime | None = None


class IndividualIn(_Frozen):
    """One population slot to save.

    ``entry_key`` is ``genome.hash`` for genomes (also for genome-kind fixed entries such as
    ``adam``, whose ``label`` is the registry name) and the registry name for opaque fixed
    entries, which have no genome. ``parents`` are genome hashes.
    """

    slot: int = Field(ge=0)
    entry_key: str = Field(min_length=1, max_length=KEY_LENGTH)
    genome: Genome | None
    origin: Origin
    parents: list[str] = Field(default_factory=list)
    label: str | None = Field(None, min_length=1, max_length=KEY_LENGTH)

    @model_validator(mode="after")
    def _consistent(self) -> IndividualIn:
        if self.genome is not None and self.entry_key != self.genome.hash:
            raise ValueError(
                f"entry_key {self.entry_key!r} is not the genome's hash {self.genome.hash!r}; "
                "genome entries are keyed by Genome.hash"
            )
        if self.genome is None and self.origin != "fixed":
            raise ValueError(f"slot {self.slot}: only fixed entries may come without a genome")
        if self.origin == "fixed" and self.label is None:
            raise ValueError(f"slot {self.slot}: a fixed entry needs its registry name as label")
        return self


class IndividualRecord(_Frozen):
    """A stored population slot (generation -1 holds the run's fixed entries)."""

    run_id: int
    generation: int
    slot: int
    entry_key: str
    genome: Genome | None
    origin: Origin
    parents: list[str]
    label: str | None


class EvaluationIn(_Frozen):
    """One (entry, task, seed) training result under a budget key; the evaluation cache row.

    ``fitness`` may be NaN (stored as NULL, read back as NaN). Non-finite floats inside
    ``metrics`` become None, since JSON has no NaN or infinity.
    """

    entry_key: str = Field(min_length=1, max_length=KEY_LENGTH)
    task: str = Field(min_length=1, max_length=KEY_LENGTH)
    seed: int
    budget_key: str = Field(min_length=1, max_length=BUDGET_KEY_LENGTH)
    metrics: dict[str, Any] = Field(default_factory=dict)
    fitness: float
    status: EvalStatus
    error: str | None = None
    worker: str = Field("", max_length=NAME_LENGTH)
    device: str = Field("", max_length=KEY_LENGTH)
    wall_time_s: float = 0.0

    @field_validator("metrics")
    @classmethod
    def _json_metrics(cls, metrics: dict[str, Any]) -> dict[str, Any]:
        return finite_json(metrics)

    @property
    def key(self) -> tuple[str, str, int, str]:
        """The cache key: (entry_key, task, seed, budget_key)."""
        return (self.entry_key, self.task, self.seed, self.budget_key)


class EvaluationRecord(EvaluationIn):
    """A stored evaluation and when it was first recorded."""

    created_at: datetime


class GenerationRecord(_Frozen):
    """A closed generation: fitness statistics and the whole GA state to resume from."""

    run_id: int
    index: int
    best_fitness: float
    mean_fitness: float
    std_fitness: float
    ga_state: dict[str, Any]
    completed_at: datetime
    timing: dict[str, float] | None = None


class RunEntry(_Frozen):
    """One distinct entry of a run (any generation, or fixed): what ranking it needs.

    ``label`` is the registry name of a fixed entry (``is_fixed``), also when the GA made
    the same genome; ``has_genome`` is False for opaque fixed entries.
    """

    entry_key: str
    label: str | None
    is_fixed: bool
    has_genome: bool


class SeedResult(NamedTuple):
    """One stored seed fitness, without the rest of the evaluation row (NaN for NULL)."""

    entry_key: str
    task: str
    seed: int
    fitness: float


class TaskTotal(NamedTuple):
    """One entry's stored seed fitness on one task, summed (the GROUP BY read behind ranking).

    ``total`` is the sum of the values that are not NaN (NULL), ``n_seeds`` counts every
    stored seed and ``n_nan`` those whose fitness is NaN; :func:`evo.search.aggregation.score_totals`
    turns these into the task mean (NaN when ``n_nan`` > 0).
    """

    entry_key: str
    task: str
    total: float
    n_seeds: int
    n_nan: int


class EntryEstimate(NamedTuple):
    """One entry's stored results in a scope, aggregated per entry in SQL (ranking's first pass).

    ``n_seeds`` (stored (task, seed) results) and ``n_nan`` (those with a NaN fitness) are
    exact. ``fitness`` is the mean of the stored values and ``scale`` the mean of their
    absolute values, both NaN-free values summed by the database. For a complete entry
    (``n_seeds`` = tasks x seeds, every task with every seed) the mean of the task means is
    the mean of all values, so ``fitness`` estimates F to within
    ``(n_seeds + tasks + 2) * 2**-53 * scale`` (the database's sums are not ``math.fsum``);
    for an incomplete one it is no estimate of F (tasks with fewer seeds weigh differently).
    """

    entry_key: str
    n_seeds: int
    n_nan: int
    fitness: float
    scale: float
