"""Schema version 2: ``generations.rng_state`` (the whole GA state) becomes ``ga_state``.

Also drops ``evo_meta``: from version 2 on, Alembic's ``alembic_version`` table holds the
schema version (its revision id is the version number, zero-padded).

Revision ID: 0002
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # RENAME COLUMN: SQLite >= 3.25 and PostgreSQL, no table copy.
    op.execute("ALTER TABLE generations RENAME COLUMN rng_state TO ga_state")
    op.drop_table("evo_meta")


def downgrade() -> None:
    op.execute("ALTER TABLE generations RENAME COLUMN ga_state TO rng_state")
    op.execute("CREATE TABLE evo_meta (key VARCHAR(64) PRIMARY KEY, value VARCHAR(200) NOT NULL)")
    op.execute("INSERT INTO evo_meta (key, value) VALUES ('schema_version', '1')")
