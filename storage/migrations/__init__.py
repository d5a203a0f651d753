"""Alembic migrations of the run database (applied by :func:`storage.engine.ensure_schema`)."""
