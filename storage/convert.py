"""Rows to frozen records and records to row values (the only place that knows both)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from optimizers.genome import Genome
from storage.records import (
    EvaluationIn,
    EvaluationRecord,
    GenerationRecord,
    IndividualIn,
    IndividualRecord,
    RunRecord,
    RunScope,
)
from storage.schema import EvaluationRow, GenerationRow, IndividualRow, Run


def utc(value: datetime) -> datetime:
    """A stored naive-UTC time as an aware datetime."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def nan_if_null(value: float | None) -> float:
    return math.nan if value is None else float(value)


class GenomeCache:
    """Parses each genome JSON once per call (populations repeat elites)."""

    def __init__(self) -> None:
        self._by_hash: dict[str, Genome] = {}

    def get(self, genome_hash: str | None, data: dict[str, Any] | None) -> Genome | None:
        if genome_hash is None or data is None:
            return None
        if genome_hash not in self._by_hash:
            self._by_hash[genome_hash] = Genome.model_validate(data)
        return self._by_hash[genome_hash]


def run(row: Run) -> RunRecord:
    return RunRecord(
        id=row.id,
        name=row.name,
        config=row.config,
        scope=RunScope.model_validate(row.scope),
        status=row.status,
        seed=row.seed,
        created_at=utc(row.created_at),
        updated_at=utc(row.updated_at),
        schema_version=row.schema_version,
    )


def individual_row(run_id: int, generation: int, ind: IndividualIn) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "generation": generation,
        "slot": ind.slot,
        "entry_key": ind.entry_key,
        "genome_hash": ind.entry_key if ind.genome is not None else None,
        "origin": ind.origin,
        "parents": list(ind.parents),
        "label": ind.label,
    }


def individual(row: IndividualRow, genome: Genome | None) -> IndividualRecord:
    return IndividualRecord(
        run_id=row.run_id,
        generation=row.generation,
        slot=row.slot,
        entry_key=row.entry_key,
        genome=genome,
        origin=row.origin,
        parents=list(row.parents),
        label=row.label,
    )


def evaluation_row(e: EvaluationIn, created_at: datetime) -> dict[str, Any]:
    return {
        "entry_key": e.entry_key,
        "task": e.task,
        "seed": e.seed,
        "budget_key": e.budget_key,
        "metrics": e.metrics,
        "fitness": None if math.isnan(e.fitness) else e.fitness,
        "status": e.status,
        "error": e.error,
        "worker": e.worker,
        "device": e.device,
        "wall_time_s": e.wall_time_s,
        "created_at": created_at,
    }


def evaluation(row: EvaluationRow) -> EvaluationRecord:
    return EvaluationRecord(
        entry_key=row.entry_key,
        task=row.task,
        seed=row.seed,
        budget_key=row.budget_key,
        metrics=row.metrics,
        fitness=nan_if_null(row.fitness),
        status=row.status,
        error=row.error,
        worker=row.worker,
        device=row.device,
        wall_time_s=row.wall_time_s,
        created_at=utc(row.created_at),
    )


def generation(row: GenerationRow) -> GenerationRecord:
    return GenerationRecord(
        run_id=row.run_id,
        index=row.generation,
        best_fitness=nan_if_null(row.best_fitness),
        mean_fitness=nan_if_null(row.mean_fitness),
        std_fitness=nan_if_null(row.std_fitness),
        rng_state=row.rng_state,
        completed_at=utc(row.completed_at),
    )
