"""Opening the result store: a database given as a URL or a file path, never created by a read.

Light at import (stdlib): SQLAlchemy and the store are imported when a store is opened.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from evo.errors import UsageError

if TYPE_CHECKING:
    from storage import Store


def database_url(db: str | Path) -> str:
    """``db`` as a SQLAlchemy URL: a URL (``"sqlite:///runs/evo.db"``,
    ``"postgresql+psycopg://..."``) is kept, a file path becomes ``sqlite:///<absolute path>``."""
    text = str(db)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def sqlite_file(url: str) -> Path | None:
    """The file behind an SQLite URL; None for other databases and in-memory SQLite."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return None  # the store reports a bad URL itself
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def database_exists(url: str) -> bool:
    """False only for an SQLite URL whose file is not there (other databases: assume yes)."""
    path = sqlite_file(url)
    return path is None or path.exists()


@contextmanager
def open_store(url: str, create: bool = False, read_only: bool = False) -> Iterator[Store]:
    """The store at ``url``, closed (its engine disposed) on the way out.

    Args:
        create: make a missing SQLite file; otherwise a missing file is a user error
            (a mistyped ``--db`` must not leave an empty database behind).
        read_only: the read commands' open: nothing is created, upgraded or written.
    """
    from storage import Store

    if not create and not database_exists(url):
        raise UsageError(f"no database at {sqlite_file(url)}; check --db (or EVO_DB), or start a run first")
    store = Store(url, read_only=read_only)
    try:
        yield store
    finally:
        store.close()
