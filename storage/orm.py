"""The database tables as SQLAlchemy 2.x typed ORM classes, and the row <-> record conversions.

(Named ``orm``, not ``schema``: :mod:`evo.config.schema` is the job config's schema.)

Tables: ``runs``, ``genomes`` (unique canonical hash), ``individuals`` (unique run,
generation, slot), ``evaluations`` (unique entry, task, seed, budget key: the evaluation
cache shared by every run) and ``generations`` (unique run, index). Invariants live here as
constraints; each model converts its rows to frozen records and finds its rows (as Optuna's
models do: ``find_or_raise``). Times are naive UTC.

Every schema change is an Alembic revision in ``storage/migrations/versions`` (numbered
``0001``, ``0002``, ...) and bumps :data:`SCHEMA_VERSION` to that number (see
:mod:`storage.engine`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    insert,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from optimizers.errors import one_line
from optimizers.genome import Genome
from storage.errors import DamagedRowError, UnknownGenomeError, UnknownRunError
from storage.records import (
    BUDGET_KEY_LENGTH,
    EVAL_STATUSES,
    KEY_LENGTH,
    NAME_LENGTH,
    ORIGINS,
    RUN_STATUSES,
    EvaluationIn,
    EvaluationRecord,
    GenerationRecord,
    IndividualIn,
    IndividualRecord,
    RunRecord,
    RunScope,
)

SCHEMA_VERSION = 3
"""Version of the tables below: the number of the newest migration; stored in every run row."""
MIN_PREFIX = 6
"""Shortest genome-hash prefix :meth:`GenomeRow.find_or_raise` resolves."""
CHUNK = 500
"""Keys per ``IN (...)`` clause (stays far below every driver's parameter limit)."""
NATIVE_INSERT = {"sqlite": sqlite_insert, "postgresql": postgresql_insert}
"""Dialects with ``INSERT ... ON CONFLICT DO NOTHING``."""


def utcnow() -> datetime:
    """Now, as the naive UTC datetime every table stores."""
    return datetime.now(UTC).replace(tzinfo=None)


def utc(value: datetime) -> datetime:
    """A stored naive-UTC time as an aware datetime."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def nan_if_null(value: float | None) -> float:
    return math.nan if value is None else float(value)


def null_if_nan(x: float) -> float | None:
    """NaN is stored as NULL (SQLite cannot hold NaN)."""
    x = float(x)
    return None if math.isnan(x) else x


def chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON}  # noqa: RUF012

    @classmethod
    def insert_ignore(cls, session: Session, rows: list[dict[str, Any]], *, native: bool = True) -> int:
        """Insert the rows whose unique key is not stored yet; returns how many were inserted.

        SQLite and PostgreSQL use ``INSERT ... ON CONFLICT DO NOTHING RETURNING pk``: race-free
        (a concurrent writer of the same key waits, then inserts nothing) and a returned row
        means "inserted" (``rowcount`` is -1 on some drivers). Other databases (or
        ``native=False``) insert each row in a savepoint and read an IntegrityError as "exists".
        One statement object serves all rows, so SQLAlchemy compiles it once.
        """
        table = cls.__table__
        dialect_insert = NATIVE_INSERT.get(session.get_bind().dialect.name) if native else None
        inserted = 0
        if dialect_insert is not None:
            statement = dialect_insert(table).on_conflict_do_nothing().returning(*table.primary_key.columns)
            for row in rows:
                inserted += len(session.execute(statement, row).all())
            return inserted
        statement = insert(table)
        for row in rows:
            try:
                with session.begin_nested():
                    session.execute(statement, row)
                inserted += 1
            except IntegrityError:
                pass
        return inserted


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (CheckConstraint(_in("status", RUN_STATUSES), name="ck_runs_status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    config: Mapped[dict[str, Any]]
    scope: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    seed: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime())
    updated_at: Mapped[datetime] = mapped_column(DateTime())
    schema_version: Mapped[int] = mapped_column(Integer)
    lease_owner: Mapped[str | None] = mapped_column(String(NAME_LENGTH), nullable=True)
    """The driver holding the run (``host:pid:token``), NULL when none does."""
    lease_heartbeat: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    """When the lease holder last renewed its lease (UTC)."""

    @classmethod
    def find_or_raise(cls, s: Session, name_or_id: str | int, where: str) -> Run:
        """The run with that name, or id (an int, or a string of digits that is no name)."""
        row = None
        if isinstance(name_or_id, int) and not isinstance(name_or_id, bool):
            row = s.get(cls, name_or_id)
        else:
            text = str(name_or_id).strip()
            row = s.scalar(select(cls).where(cls.name == text))
            if row is None and text.isdigit():
                row = s.get(cls, int(text))
        if row is None:
            raise UnknownRunError(f"no run {name_or_id!r} in {where}; `evo runs` lists the stored runs")
        return row

    def record(self) -> RunRecord:
        return RunRecord(
            id=self.id,
            name=self.name,
            config=self.config,
            scope=RunScope.model_validate(self.scope),
            status=self.status,
            seed=self.seed,
            created_at=utc(self.created_at),
            updated_at=utc(self.updated_at),
            schema_version=self.schema_version,
            lease_owner=self.lease_owner,
            lease_heartbeat=utc(self.lease_heartbeat) if self.lease_heartbeat is not None else None,
        )


class GenomeRow(Base):
    """A genome by canonical hash; the first JSON seen for a hash is kept."""

    __tablename__ = "genomes"

    hash: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    genome: Mapped[dict[str, Any]]
    first_seen: Mapped[datetime] = mapped_column(DateTime())

    @classmethod
    def raw(cls) -> Any:
        """The genome column as stored, undecoded (so damaged JSON is reported, not raised)."""
        return type_coerce(cls.genome, Text)

    @classmethod
    def find_or_raise(cls, s: Session, hash_or_prefix: str) -> Genome:
        """A genome by its hash, or by a unique prefix of at least :data:`MIN_PREFIX` characters.

        Raises DamagedRowError (naming the row) when the stored JSON is not a genome.
        """
        wanted = str(hash_or_prefix).strip().lower()
        row = s.execute(select(cls.hash, cls.raw()).where(cls.hash == wanted)).first()
        if row is not None:
            return parse_genome(*row)
        if len(wanted) < MIN_PREFIX:
            raise UnknownGenomeError(
                f"no genome {wanted!r}; give a full hash or a prefix of at least {MIN_PREFIX} characters "
                "(`evo best RUN` shows them)"
            )
        rows = s.execute(
            select(cls.hash, cls.raw()).where(cls.hash.startswith(wanted, autoescape=True)).limit(11)
        ).all()
        if not rows:
            raise UnknownGenomeError(
                f"no genome with hash or prefix {wanted!r}; `evo best RUN` lists genomes"
            )
        if len(rows) > 1:
            shown = ", ".join(r.hash for r in rows[:10]) + (", ..." if len(rows) > 10 else "")
            raise UnknownGenomeError(f"genome prefix {wanted!r} is ambiguous ({shown}); give more characters")
        return parse_genome(*rows[0])

    @classmethod
    def by_hash(cls, s: Session, hashes: Sequence[str]) -> dict[str, Genome | DamagedRowError]:
        """The stored genomes among ``hashes`` (unknown hashes are left out); a damaged row
        maps to its :class:`DamagedRowError` instead of raising, so callers may skip it."""
        found: dict[str, Genome | DamagedRowError] = {}
        for chunk in chunks(list(dict.fromkeys(hashes))):
            for key, raw in s.execute(select(cls.hash, cls.raw()).where(cls.hash.in_(chunk))):
                try:
                    found[key] = parse_genome(key, raw)
                except DamagedRowError as exc:
                    found[key] = exc
        return found


def parse_genome(genome_hash: str, raw: Any) -> Genome:
    """The genome in a stored ``genomes.genome`` value (JSON text, or already decoded).

    Raises:
        DamagedRowError: one line naming the row, when it is not a valid genome.
    """
    try:
        data = json.loads(raw) if isinstance(raw, str | bytes) else raw
        return Genome.model_validate(data)
    except (ValueError, TypeError) as exc:  # JSONDecodeError and ValidationError are ValueErrors
        first = exc.errors()[0]["msg"] if hasattr(exc, "errors") else str(exc)
        raise DamagedRowError(
            f"stored genome row {genome_hash!r} (table genomes) is damaged: {one_line(first, 160)}; "
            "it was changed outside evo"
        ) from None


class IndividualRow(Base):
    """A population slot. ``genome_hash`` is NULL for opaque fixed entries."""

    __tablename__ = "individuals"
    __table_args__ = (
        UniqueConstraint("run_id", "generation", "slot", name="uq_individuals_slot"),
        CheckConstraint(_in("origin", ORIGINS), name="ck_individuals_origin"),
        CheckConstraint("generation >= -1 AND slot >= 0", name="ck_individuals_position"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    generation: Mapped[int] = mapped_column(Integer)
    slot: Mapped[int] = mapped_column(Integer)
    entry_key: Mapped[str] = mapped_column(String(KEY_LENGTH))
    genome_hash: Mapped[str | None] = mapped_column(ForeignKey("genomes.hash"))
    origin: Mapped[str] = mapped_column(String(16))
    parents: Mapped[list[str]]
    label: Mapped[str | None] = mapped_column(String(KEY_LENGTH))

    @staticmethod
    def values(run_id: int, generation: int, ind: IndividualIn) -> dict[str, Any]:
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

    def record(self, genome: Genome | None) -> IndividualRecord:
        return IndividualRecord(
            run_id=self.run_id,
            generation=self.generation,
            slot=self.slot,
            entry_key=self.entry_key,
            genome=genome,
            origin=self.origin,
            parents=list(self.parents),
            label=self.label,
        )

    @classmethod
    def population(cls, s: Session, run_id: int, generation: int) -> Sequence[IndividualRow]:
        return s.scalars(
            select(cls).where(cls.run_id == run_id, cls.generation == generation).order_by(cls.slot)
        ).all()


class EvaluationRow(Base):
    """One (entry, task, seed, budget) result. ``fitness`` NULL means NaN."""

    __tablename__ = "evaluations"
    __table_args__ = (
        UniqueConstraint("entry_key", "task", "seed", "budget_key", name="uq_evaluations_key"),
        CheckConstraint(_in("status", EVAL_STATUSES), name="ck_evaluations_status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_key: Mapped[str] = mapped_column(String(KEY_LENGTH))
    task: Mapped[str] = mapped_column(String(KEY_LENGTH))
    seed: Mapped[int] = mapped_column(Integer)
    budget_key: Mapped[str] = mapped_column(String(BUDGET_KEY_LENGTH))
    metrics: Mapped[dict[str, Any]]
    fitness: Mapped[float | None] = mapped_column(Double())
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text())
    worker: Mapped[str] = mapped_column(String(NAME_LENGTH))
    device: Mapped[str] = mapped_column(String(KEY_LENGTH))
    wall_time_s: Mapped[float] = mapped_column(Double())
    created_at: Mapped[datetime] = mapped_column(DateTime())

    @staticmethod
    def values(e: EvaluationIn, created_at: datetime) -> dict[str, Any]:
        return {
            "entry_key": e.entry_key,
            "task": e.task,
            "seed": e.seed,
            "budget_key": e.budget_key,
            "metrics": e.metrics,
            "fitness": null_if_nan(e.fitness),
            "status": e.status,
            "error": e.error,
            "worker": e.worker,
            "device": e.device,
            "wall_time_s": e.wall_time_s,
            "created_at": created_at,
        }

    def record(self) -> EvaluationRecord:
        return EvaluationRecord(
            entry_key=self.entry_key,
            task=self.task,
            seed=self.seed,
            budget_key=self.budget_key,
            metrics=self.metrics,
            fitness=nan_if_null(self.fitness),
            status=self.status,
            error=self.error,
            worker=self.worker,
            device=self.device,
            wall_time_s=self.wall_time_s,
            created_at=utc(self.created_at),
        )


class GenerationRow(Base):
    """A closed generation. Fitness columns NULL mean NaN."""

    __tablename__ = "generations"
    __table_args__ = (UniqueConstraint("run_id", "generation", name="uq_generations_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    generation: Mapped[int] = mapped_column(Integer)
    best_fitness: Mapped[float | None] = mapped_column(Double())
    mean_fitness: Mapped[float | None] = mapped_column(Double())
    std_fitness: Mapped[float | None] = mapped_column(Double())
    ga_state: Mapped[dict[str, Any]]
    """The whole GA state after the generation's ``tell`` (population, best, RNG)."""
    completed_at: Mapped[datetime] = mapped_column(DateTime())
    timing: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    """Where the generation's wall time went (seconds by part); NULL before schema version 3."""

    def record(self) -> GenerationRecord:
        return GenerationRecord(
            run_id=self.run_id,
            index=self.generation,
            best_fitness=nan_if_null(self.best_fitness),
            mean_fitness=nan_if_null(self.mean_fitness),
            std_fitness=nan_if_null(self.std_fitness),
            ga_state=self.ga_state,
            completed_at=utc(self.completed_at),
            timing=self.timing,
        )
