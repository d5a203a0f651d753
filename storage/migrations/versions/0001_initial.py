"""Schema version 1: runs, genomes, individuals, evaluations, generations and evo_meta.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

RUN_STATUSES = ("running", "paused", "finished", "failed")
ORIGINS = ("init", "elite", "crossover", "mutation", "fixed")
EVAL_STATUSES = ("ok", "diverged", "failed")
"""Frozen as version 1 had them (a migration never follows later code)."""


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "evo_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("scope", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("schema_version", sa.Integer, nullable=False),
        sa.CheckConstraint(_in("status", RUN_STATUSES), name="ck_runs_status"),
    )
    op.create_table(
        "genomes",
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("genome", sa.JSON, nullable=False),
        sa.Column("first_seen", sa.DateTime, nullable=False),
    )
    op.create_table(
        "individuals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("slot", sa.Integer, nullable=False),
        sa.Column("entry_key", sa.String(64), nullable=False),
        sa.Column("genome_hash", sa.String(64), sa.ForeignKey("genomes.hash"), nullable=True),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("parents", sa.JSON, nullable=False),
        sa.Column("label", sa.String(64), nullable=True),
        sa.UniqueConstraint("run_id", "generation", "slot", name="uq_individuals_slot"),
        sa.CheckConstraint(_in("origin", ORIGINS), name="ck_individuals_origin"),
        sa.CheckConstraint("generation >= -1 AND slot >= 0", name="ck_individuals_position"),
    )
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("entry_key", sa.String(64), nullable=False),
        sa.Column("task", sa.String(64), nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("budget_key", sa.String(255), nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("fitness", sa.Double, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("worker", sa.String(200), nullable=False),
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("wall_time_s", sa.Double, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("entry_key", "task", "seed", "budget_key", name="uq_evaluations_key"),
        sa.CheckConstraint(_in("status", EVAL_STATUSES), name="ck_evaluations_status"),
    )
    op.create_table(
        "generations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("best_fitness", sa.Double, nullable=True),
        sa.Column("mean_fitness", sa.Double, nullable=True),
        sa.Column("std_fitness", sa.Double, nullable=True),
        sa.Column("rng_state", sa.JSON, nullable=False),
        sa.Column("completed_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("run_id", "generation", name="uq_generations_index"),
    )
    op.execute("INSERT INTO evo_meta (key, value) VALUES ('schema_version', '1')")


def downgrade() -> None:
    for table in ("generations", "evaluations", "individuals", "genomes", "runs", "evo_meta"):
        op.drop_table(table)
