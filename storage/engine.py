"""Opening a database: URL checks, SQLite settings, the schema version, error translation.

SQLite files get WAL mode (readers never block the writer, so ``evo best`` reads while a run
writes), a busy timeout (two runs can share one file: a writer waits for the other instead of
failing), ``synchronous=NORMAL`` (a committed transaction survives a killed process; only a
power loss may drop the last commits, never corrupt the file) and foreign keys on. Write
transactions start with ``BEGIN IMMEDIATE``: they take the write lock up front, so two writers
queue on the busy timeout instead of one failing on a read-to-write lock upgrade.

Nothing is written to a database that fails the checks: a file that is not SQLite, one with
foreign tables, or one of a newer schema version is refused before any write. An empty
database gets the tables and an older evo database is upgraded, both by the Alembic
migrations in ``storage/migrations`` (:func:`ensure_schema`).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import (
    ArgumentError,
    IntegrityError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.pool import StaticPool

from optimizers.errors import one_line
from storage.errors import DatabaseOpenError, SchemaVersionError, StorageError
from storage.orm import SCHEMA_VERSION, Base

BUSY_TIMEOUT_S = 30.0
"""How long a SQLite writer waits for another process's write lock before failing."""
CONNECT_TIMEOUT_S = 10
"""How long a server connection attempt may take (never hang on an unreachable host)."""
WRITE_OPTION = "evo_write"
"""Execution option marking a write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
URL_EXAMPLES = "e.g. sqlite:///runs/evo.db or postgresql+psycopg://user:password@host/db"


def describe(url: URL) -> str:
    """The URL without its password, for messages."""
    return url.render_as_string(hide_password=True)


def parse_url(url: str | URL) -> URL:
    """Parse a SQLAlchemy URL. Raises :class:`DatabaseOpenError` on a malformed one."""
    if isinstance(url, URL):
        return url
    try:
        return make_url(str(url).strip())
    except (ArgumentError, ValueError) as exc:
        raise DatabaseOpenError(
            f"bad database URL {url!r}: {one_line(exc, 300)}; use {URL_EXAMPLES}"
        ) from None


def sqlite_path(url: URL) -> Path | None:
    """The file of a SQLite URL; None for in-memory databases and ``file:`` URIs."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if str(url.query.get("uri", "")).lower() in ("true", "1"):
        return None
    return Path(url.database)


def is_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def read_only_sqlite(path: Path) -> sqlite3.Connection:
    """A read-only connection to the SQLite file ``path`` (``mode=ro``: no write can happen).

    A WAL database needs its ``-shm`` index; where it is absent and cannot be created (a
    read-only folder: no process can be writing then) the file is opened ``immutable``.
    """
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    connection = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
    try:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as exc:
        connection.close()
        if "unable to open" not in str(exc).lower() or os.access(path.parent, os.W_OK):
            raise
        connection = sqlite3.connect(f"{uri}&immutable=1", uri=True, check_same_thread=False)
    return connection


def create(url: URL, read_only: bool = False) -> Engine:
    """An engine for ``url`` with the settings above (nothing connects yet).

    ``read_only``: every connection refuses writes (SQLite ``mode=ro``, PostgreSQL read-only
    transactions) and no folder is created.

    Raises:
        DatabaseOpenError: unknown dialect, driver not installed, folder not creatable.
    """
    backend = url.get_backend_name()
    kwargs: dict[str, Any] = {}
    if backend == "sqlite":
        kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}
        if is_memory(url):
            kwargs["poolclass"] = StaticPool  # one shared connection = one database
        path = sqlite_path(url)
        if path is not None and path.is_dir():
            raise DatabaseOpenError(f"{path} is a folder; give a database file such as {path / 'evo.db'}")
        if path is not None and read_only:
            kwargs["creator"] = lambda: read_only_sqlite(path)
        elif path is not None and path.parent != Path():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseOpenError(
                    f"cannot create the folder of {path}: {one_line(exc, 300)}; choose a writable location"
                ) from None
    elif backend == "postgresql" and "connect_timeout" not in url.query:
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    try:
        engine = create_engine(url, **kwargs)
    except NoSuchModuleError:
        raise DatabaseOpenError(
            f"unknown database kind in URL {describe(url)!r}; use {URL_EXAMPLES}"
        ) from None
    except ImportError as exc:
        raise DatabaseOpenError(
            f"the database driver for {describe(url)!r} is not installed ({one_line(exc, 300)}); install it "
            "(for PostgreSQL: pip install 'psycopg[binary]')"
        ) from None
    except (ArgumentError, ValueError, TypeError) as exc:
        raise DatabaseOpenError(
            f"bad database URL {describe(url)!r}: {one_line(exc, 300)}; use {URL_EXAMPLES}"
        ) from None
    if backend == "sqlite":
        _configure_sqlite(engine)
    elif read_only:
        _read_only_sessions(engine)
    return engine


def _read_only_sessions(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        cursor.close()
        dbapi_connection.commit()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def translate(exc: SQLAlchemyError, url: URL, action: str, *, opening: bool = False) -> StorageError:
    """A one-line :class:`StorageError` for a driver error raised while doing ``action``.

    ``opening``: the error came from the first connection, so a server error means the
    server cannot be reached (or refuses the login).
    """
    where = describe(url)
    message = one_line(getattr(exc, "orig", None) or exc, 300)
    lowered = message.lower()
    if "file is not a database" in lowered or "not a database" in lowered:
        return DatabaseOpenError(
            f"{where} is not an SQLite database ({message}); pass an evo database or a new file"
        )
    if "readonly database" in lowered or "read-only" in lowered:
        return DatabaseOpenError(f"{where} is read-only ({message}); use a writable location to {action}")
    if "unable to open database file" in lowered:
        return DatabaseOpenError(
            f"cannot open {where} ({message}); check that its folder exists and is writable"
        )
    if "database is locked" in lowered:
        return StorageError(
            f"{where} stayed locked by another process for over {BUSY_TIMEOUT_S:.0f} s while trying "
            f"to {action}; retry when the other writer is done"
        )
    if isinstance(exc, IntegrityError):
        return StorageError(f"could not {action}: a conflicting row exists ({message})")
    if opening and isinstance(exc, OperationalError) and url.get_backend_name() != "sqlite":
        return DatabaseOpenError(
            f"cannot connect to {where} ({message}); check that the server runs, is reachable and "
            "accepts this user"
        )
    return StorageError(f"database error while trying to {action} on {where}: {message}")


# -- schema ----------------------------------------------------------------------------
VERSION_TABLE = "alembic_version"
V1_META_TABLE = "evo_meta"
"""Version 1 kept its version in ``evo_meta``; from version 2 on Alembic's table holds it."""
MIGRATIONS = Path(__file__).with_name("migrations")


def stored_version(connection: Connection, where: str) -> int | None:
    """The database's schema version; None for an empty database.

    The version is the revision id in Alembic's ``alembic_version`` (``0002`` is version 2);
    a version-1 database (before Alembic) says ``schema_version`` in ``evo_meta``.

    Raises:
        SchemaVersionError: foreign tables, an unreadable or newer version, or tables missing.
    """
    tables = set(inspect(connection).get_table_names())
    if not tables:
        return None
    if VERSION_TABLE in tables:
        value = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    elif V1_META_TABLE in tables:
        value = connection.execute(
            text(f"SELECT value FROM {V1_META_TABLE} WHERE key = 'schema_version'")
        ).scalar()
    else:
        shown = ", ".join(sorted(tables)[:5])
        raise SchemaVersionError(
            f"{where} holds tables ({shown}) but no evo schema version: it is not an evo database "
            "(or one of an unknown version); pass another database"
        )
    try:
        version = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SchemaVersionError(
            f"{where} has an unknown schema version {value!r}; this evo reads versions 1..{SCHEMA_VERSION}"
        ) from None
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{where} was written by a newer evo (schema version {version}; this one reads "
            f"{SCHEMA_VERSION}); upgrade evo to open it"
        )
    if version < 1:
        raise SchemaVersionError(
            f"{where} has the unknown schema version {version}; it is not an evo database"
        )
    missing = set(Base.metadata.tables) - tables
    if missing:
        raise SchemaVersionError(
            f"{where} says schema version {version} but lacks tables {sorted(missing)}; it is damaged"
        )
    return version


def _upgrade(connection: Connection, version: int | None) -> None:
    """``alembic upgrade head`` on ``connection`` (inside the caller's transaction).

    A version-1 database predates Alembic: it is stamped as revision ``0001`` first.
    Alembic is imported here only: a store already at the current version never needs it.
    """
    from alembic import command
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    if version == 1 and VERSION_TABLE not in set(inspect(connection).get_table_names()):
        command.stamp(config, "0001")
    command.upgrade(config, "head")


def check_readable(engine: Engine, url: URL) -> None:
    """A read-only open: the schema must be there, at this version; nothing is written.

    Raises:
        SchemaVersionError: an empty database (reads never create the schema), an older
            version (a writing open upgrades it: ``evo upgrade``), or what
            :func:`stored_version` refuses.
    """
    where = describe(url)
    try:
        with engine.connect() as connection, connection.begin():
            version = stored_version(connection, where)
    except SQLAlchemyError as exc:
        raise translate(exc, url, "read the database", opening=True) from exc
    if version is None:
        raise SchemaVersionError(
            f"{where} is empty: it holds no evo runs (a read never creates the schema); "
            "start a run on it with `evo run CONFIG --db ...`"
        )
    if version < SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{where} has the older schema version {version} (this evo reads {SCHEMA_VERSION}); reads never "
            f"upgrade it: run `evo upgrade --db {url.render_as_string(hide_password=True)}` once"
        )


def ensure_schema(engine: Engine, url: URL) -> None:
    """Check the schema version; create the tables of an empty database, upgrade an older one.

    An older database is migrated on open (Alembic, ``storage/migrations``), in one write
    transaction serialized across processes (SQLite's write lock, a PostgreSQL advisory
    lock), so two processes opening it at once migrate it once. A read-only older database
    cannot be upgraded: the error says to open it once from a writable location.
    """
    where = describe(url)
    try:
        with engine.connect() as connection, connection.begin():
            version = stored_version(connection, where)
        if version is None or version < SCHEMA_VERSION:
            with engine.execution_options(**{WRITE_OPTION: True}).begin() as connection:
                if url.get_backend_name() == "postgresql":
                    connection.execute(text("SELECT pg_advisory_xact_lock(4242001)"))
                version = stored_version(connection, where)
                if version is None or version < SCHEMA_VERSION:
                    _upgrade(connection, version)
        if sqlite_path(url) is not None:
            _use_wal(engine, url)
    except SQLAlchemyError as exc:
        raise translate(exc, url, "open (and upgrade) the database", opening=True) from exc


def _use_wal(engine: Engine, url: URL) -> None:
    """Switch a SQLite file to WAL (persistent in the file; a no-op when already WAL).

    A file opened read-only keeps its journal mode: it is only read.
    """
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()
    except sqlite3.Error as exc:
        if "readonly" not in str(exc).lower():
            raise DatabaseOpenError(
                f"cannot switch {describe(url)} to WAL mode: {one_line(exc, 300)}"
            ) from exc
    finally:
        raw.close()


def open_database(url: str | URL, read_only: bool = False) -> tuple[Engine, URL]:
    """Parse, create and check: an engine ready for the store, and its parsed URL.

    ``read_only``: open without writing anything (:func:`check_readable` instead of
    :func:`ensure_schema`).

    Raises:
        DatabaseOpenError: bad URL, missing driver, unreachable server, not a database,
            read-only location.
        SchemaVersionError: a newer or unknown schema version.
    """
    parsed = parse_url(url)
    engine = create(parsed, read_only)
    try:
        (check_readable if read_only else ensure_schema)(engine, parsed)
    except BaseException:
        engine.dispose()
        raise
    return engine, parsed
