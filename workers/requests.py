"""Work items and results: the small messages between the driver and the workers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from optimizers.custom import CustomOptimizer
from optimizers.genome import Genome
from workers.tasks.user_tasks import CustomTask

SelectionSplit = Literal["val", "test"]
MemberStatus = Literal["ok", "diverged", "failed"]


HOLDOUT_SPLIT: SelectionSplit = "test"
"""The split held-out tasks are scored on (it names their evaluations' budget key)."""


def budget_key(steps: int, selection_split: SelectionSplit = "val") -> str:
    """Everything besides (entry, task, seed) that changes a score, as one cache key."""
    return f"steps={steps};split={selection_split};v1"


class EntrySpec(BaseModel):
    """One optimizer to train: a genome, a fixed registry entry by name, or a user's class.

    ``key`` is the evaluation-cache key: the genome's canonical hash for genomes (also for
    genome-kind fixed entries such as ``adam``, so they share the cache with identical
    evolved genomes), the registry name for opaque entries, ``name@hash`` for a user's
    optimizer (``custom``, see :mod:`optimizers.custom`), which the worker rebuilds from
    the spec alone.
    """

    model_config = ConfigDict(frozen=True)

    key: str = Field(description="Cache key: genome hash or opaque registry name.")
    genome: Genome | None = Field(None, description="The genome, for genome entries.")
    fixed: str | None = Field(None, description="Registry name, for fixed entries.")
    custom: CustomOptimizer | None = Field(None, description="A user's optimizer class, for custom entries.")
    lr_scale: float = Field(
        1.0, gt=0, description="Multiplier of an opaque fixed or custom entry's ``lr`` kwarg (the lr grid)."
    )

    @model_validator(mode="after")
    def _one_kind(self) -> EntrySpec:
        if (self.genome, self.fixed, self.custom).count(None) != 2:
            raise ValueError("an entry needs exactly one of: a genome, a registry name, a custom class")
        return self

    @classmethod
    def of_genome(cls, genome: Genome) -> EntrySpec:
        return cls(key=genome.hash, genome=genome)


class EvalRequest(BaseModel):
    """Train every entry on one task for every seed, ``steps`` optimizer steps each."""

    model_config = ConfigDict(frozen=True)

    request_id: str = Field(description="Echoed in the result; lets results arrive in any order.")
    entries: list[EntrySpec] = Field(min_length=1)
    task: str = Field(description="Registry name, or a user's task key ``name@hash``.")
    custom_task: CustomTask | None = Field(None, description="A user's task (its key is ``task``).")
    seeds: list[int] = Field(min_length=1)
    steps: int = Field(ge=1)
    selection_split: SelectionSplit = "val"
    data_dir: str = "./data"
    device: str = Field("auto", description="'auto', 'cpu', 'cuda' or 'cuda:N'.")
    path: Literal["auto", "sequential", "population"] = Field(
        "auto", description="Training strategy; 'auto' picks by device and model."
    )

    @property
    def budget_key(self) -> str:
        return budget_key(self.steps, self.selection_split)


class MemberResult(BaseModel):
    """The outcome of one (entry, seed) training run on the request's task."""

    entry_key: str
    seed: int
    status: MemberStatus
    fitness: float = Field(description="Seed fitness; -1.0 when diverged or failed.")
    accuracy: float | None = Field(None, description="Selection-split accuracy (or landscape score).")
    final_loss: float | None = None
    mean_last_losses: float | None = Field(None, description="Mean of the last <= 50 training losses.")
    steps_done: int = 0
    wall_time_s: float = 0.0
    error: str | None = None
    extra: dict[str, float] = Field(
        default_factory=dict, description="Task-specific metrics (ALME: ``escape_count``)."
    )
    loss_curve: list[float] | None = Field(
        None, description="Training loss downsampled to <= 50 points: the mean of each window of steps."
    )
    loss_curve_steps: list[int] | None = Field(None, description="The last step (1-based) of each window.")
    escape_steps: list[int] | None = Field(None, description="Steps at which ALME escaped (ALME only).")


class EvalResult(BaseModel):
    """All members of one request, plus where and how they ran."""

    request_id: str
    task: str
    budget_key: str
    members: list[MemberResult]
    worker: str = Field(description="Host/pid (or Ray actor id) that ran it.")
    device: str
    path: Literal["sequential", "population"]
    wall_time_s: float
