"""Light reads of a run's progress, part of :class:`storage.Store`: what a live view polls.

A mixin of :class:`~storage.store.Store` (it uses the store's ``_transaction`` and
``_run_row``). Each read is one short transaction of Core rows that leaves the large columns
(a generation's GA state, a run's config) unread, so ``evo dashboard`` can poll a database
every second while a driver writes it: ``/api/runs`` is one GROUP BY over every run.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import func, select

from storage.orm import EvaluationRow, GenerationRow, IndividualRow, Run, nan_if_null, utc


class RunProgress(NamedTuple):
    """How far a run is: closed generations and the highest best fitness among them (NaN: none)."""

    run_id: int
    generations_done: int
    best_fitness: float


class GenerationSummary(NamedTuple):
    """One closed generation's fitness statistics and wall-time parts, without its GA state."""

    index: int
    best_fitness: float
    mean_fitness: float
    std_fitness: float
    completed_at: datetime
    timing: dict[str, float] | None


class Appearance(NamedTuple):
    """One population slot an entry held: run, generation, slot, origin and parents."""

    run_name: str
    generation: int
    slot: int
    origin: str
    parents: list[str]
    label: str | None


class ProgressReads:
    """Read-only progress queries (``evo dashboard``); one transaction each."""

    def run_progress(self) -> dict[int, RunProgress]:
        """Per run id: generations closed and max best fitness (runs without a closed one absent)."""
        with self._transaction("read the progress of the runs") as s:
            rows = s.connection().execute(
                select(GenerationRow.run_id, func.count(), func.max(GenerationRow.best_fitness))
                .group_by(GenerationRow.run_id)
            ).all()
        return {r[0]: RunProgress(r[0], int(r[1]), nan_if_null(r[2])) for r in rows}

    def write_marks(self) -> tuple[int, int]:
        """The newest evaluation and population row ids (0 when none): they change with every
        stored result or saved generation, of any run (two primary-key lookups)."""
        with self._transaction("read the newest row ids") as s:
            connection = s.connection()
            evaluation = connection.execute(select(func.max(EvaluationRow.id))).scalar()
            individual = connection.execute(select(func.max(IndividualRow.id))).scalar()
        return evaluation or 0, individual or 0

    def generation_summaries(self, run_id: int | str, after: int = -1) -> list[GenerationSummary]:
        """The run's closed generations with index > ``after``, in order (stats and timing only)."""
        with self._transaction(f"read the generations of run {run_id}") as s:
            run = self._run_row(s, run_id)
            rows = s.connection().execute(
                select(GenerationRow.generation, GenerationRow.best_fitness, GenerationRow.mean_fitness,
                       GenerationRow.std_fitness, GenerationRow.completed_at, GenerationRow.timing)
                .where(GenerationRow.run_id == run.id, GenerationRow.generation > after)
                .order_by(GenerationRow.generation)
            ).all()  # fmt: skip
        return [
            GenerationSummary(r[0], nan_if_null(r[1]), nan_if_null(r[2]), nan_if_null(r[3]), utc(r[4]), r[5])
            for r in rows
        ]

    def appearances(self, entry_key: str) -> list[Appearance]:
        """Every population slot ``entry_key`` held, in any run: its lineage (run, generation)."""
        with self._transaction(f"read where entry {entry_key} appears") as s:
            rows = s.connection().execute(
                select(Run.name, IndividualRow.generation, IndividualRow.slot, IndividualRow.origin,
                       IndividualRow.parents, IndividualRow.label)
                .join(Run, Run.id == IndividualRow.run_id)
                .where(IndividualRow.entry_key == entry_key)
                .order_by(Run.id, IndividualRow.generation, IndividualRow.slot)
            ).all()  # fmt: skip
        return [Appearance(r[0], r[1], r[2], r[3], list(r[4] or []), r[5]) for r in rows]
