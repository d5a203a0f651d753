"""``evo.open``: a result database and the runs in it."""

from __future__ import annotations

from pathlib import Path

from evo.api.run_handle import Run
from evo.api.stores import database_exists, database_url, open_store, sqlite_file
from evo.errors import UsageError


class Database:
    """A result database (SQLite file or any SQLAlchemy URL), read-only.

    Raises:
        UsageError: a SQLite file that does not exist (nothing is created).
    """

    def __init__(self, db: str | Path) -> None:
        self.url = database_url(db)
        if not database_exists(self.url):
            raise UsageError(f"no database at {sqlite_file(self.url)}; check the path, or start a run first")

    def __repr__(self) -> str:
        return f"evo.Database({self.url!r})"

    def runs(self) -> list[Run]:
        """Every stored run, oldest first."""
        with open_store(self.url, read_only=True) as store:
            return [Run(self.url, record.name) for record in store.list_runs()]

    def run(self, name: str | int) -> Run:
        """The run of that name (or id).

        Raises:
            UnknownRunError: no such run (the message lists the stored ones).
        """
        with open_store(self.url, read_only=True) as store:
            return Run(self.url, store.get_run(name).name)


def open_database(db: str | Path) -> Database:
    """``evo.open(db)``: the database at ``db``, a SQLAlchemy URL or a SQLite file path."""
    return Database(db)
