"""The database schema (SQLAlchemy 2.x typed ORM). Invariants live here as constraints.

Tables: ``runs``, ``genomes`` (unique canonical hash), ``individuals`` (unique run,
generation, slot), ``evaluations`` (unique entry, task, seed, budget key: the evaluation
cache shared by every run), ``generations`` (unique run, index) and ``evo_meta`` (the schema
version). Times are naive UTC. Bump :data:`SCHEMA_VERSION` with every schema change and add
its migration; a database of another version is refused (see :mod:`storage.engine`).
"""

from __future__ import annotations

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
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.records import (
    BUDGET_KEY_LENGTH,
    EVAL_STATUSES,
    KEY_LENGTH,
    NAME_LENGTH,
    ORIGINS,
    RUN_STATUSES,
)

SCHEMA_VERSION = 1
"""Version of the tables below; stored in ``evo_meta`` and in every run row."""


def utcnow() -> datetime:
    """Now, as the naive UTC datetime every table stores."""
    return datetime.now(UTC).replace(tzinfo=None)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON}  # noqa: RUF012


class Meta(Base):
    """Key/value facts about the database itself; ``schema_version`` for now."""

    __tablename__ = "evo_meta"

    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    value: Mapped[str] = mapped_column(String(NAME_LENGTH))


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


class GenomeRow(Base):
    """A genome by canonical hash; the first JSON seen for a hash is kept."""

    __tablename__ = "genomes"

    hash: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    genome: Mapped[dict[str, Any]]
    first_seen: Mapped[datetime] = mapped_column(DateTime())


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
    rng_state: Mapped[dict[str, Any]]
    completed_at: Mapped[datetime] = mapped_column(DateTime())
