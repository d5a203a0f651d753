"""Test support (as ``optuna.testing``): the backends store tests and benchmarks run on.

:func:`open_test_store` opens a fresh store on SQLite (a file in a temp folder) or on the
PostgreSQL server named by ``EVO_TEST_POSTGRES_URL`` (a new schema per store, dropped
afterwards), so one contract test runs on every backend. The crash and concurrency writer
processes are in ``tests/storage_writers.py``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from storage.store import Store

POSTGRES_ENV = "EVO_TEST_POSTGRES_URL"
BACKENDS = ("sqlite", "postgresql")


# -- backends --------------------------------------------------------------------------
def postgres_skip_reason() -> str | None:
    """Why the PostgreSQL variants cannot run here, or None when they can."""
    if not os.environ.get(POSTGRES_ENV):
        return f"{POSTGRES_ENV} is not set (.ci/run starts a server and sets it)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return f"{POSTGRES_ENV} is set but psycopg is not installed (pip install 'psycopg[binary]')"
    return None


@contextmanager
def postgres_schema_url(base_url: str) -> Iterator[str]:
    """A URL whose connections use a new, empty schema of ``base_url``'s database."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(base_url)
    schema = f"evo_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, connect_args={"connect_timeout": 10})
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def fresh_database_url(backend: str, folder: Path) -> Iterator[str]:
    """A fresh, empty database URL on ``backend``; removed (PostgreSQL) at exit."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'evo.db'}"
    elif backend == "postgresql":
        with postgres_schema_url(os.environ[POSTGRES_ENV]) as url:
            yield url
    else:
        raise ValueError(f"unknown backend {backend!r}; known: {BACKENDS}")


@contextmanager
def open_test_store(backend: str, folder: Path) -> Iterator[Store]:
    with fresh_database_url(backend, folder) as url, Store(url) as store:
        yield store
