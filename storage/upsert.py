"""Insert-if-absent: the idempotent write under the evaluation cache and the genome table."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

NATIVE = {"sqlite": sqlite_insert, "postgresql": postgresql_insert}
"""Dialects with ``INSERT ... ON CONFLICT DO NOTHING``."""


def insert_ignore(session: Session, model: type, rows: list[dict[str, Any]], *, native: bool = True) -> int:
    """Insert the rows whose unique key is not stored yet; returns how many were inserted.

    SQLite and PostgreSQL use ``INSERT ... ON CONFLICT DO NOTHING RETURNING pk``: race-free
    (a concurrent writer of the same key waits, then inserts nothing) and a returned row
    means "inserted" (``rowcount`` is -1 on some drivers). Other databases (or
    ``native=False``) insert each row in a savepoint and read an IntegrityError as "exists".
    One statement object serves all rows, so SQLAlchemy compiles it once.
    """
    table: Table = model.__table__  # type: ignore[attr-defined]
    dialect_insert = NATIVE.get(session.get_bind().dialect.name) if native else None
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
