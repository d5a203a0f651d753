"""Schema version 3: a generation's wall-time breakdown and a run's driver lease.

* ``generations.timing`` (JSON, NULL for generations closed before version 3): where the
  generation's wall time went (training summed over workers, waiting for results, store,
  GA), written by the driver when it closes the generation.
* ``runs.lease_owner`` / ``runs.lease_heartbeat`` (NULL when no driver holds the run): the
  driver that currently drives the run ("host:pid:token") and when it last renewed its lease.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("generations") as batch:
        batch.add_column(sa.Column("timing", sa.JSON, nullable=True))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(200), nullable=True))
        batch.add_column(sa.Column("lease_heartbeat", sa.DateTime, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("lease_heartbeat")
        batch.drop_column("lease_owner")
    with op.batch_alter_table("generations") as batch:
        batch.drop_column("timing")
