"""Alembic environment: migrations run on the connection (and transaction) the store passes in.

:func:`storage.engine.ensure_schema` opens one write transaction (SQLite's write lock, a
PostgreSQL advisory lock), puts its connection into ``config.attributes["connection"]`` and
runs ``alembic upgrade head`` inside it, so concurrent openers migrate once.
"""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
