"""Opening databases: settings, schema versions, and garbage input (one clear error, nothing changed)."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from store_backends import BACKEND_PARAMS

from evo.evidence.ranking import best
from storage import (
    SCHEMA_VERSION,
    DatabaseOpenError,
    EvaluationIn,
    RunScope,
    SchemaVersionError,
    StorageError,
    Store,
)
from storage.testing import fresh_database_url

FIXTURES = Path(__file__).parent / "fixtures"

SCOPE = RunScope(tasks=["digits"], seeds=[0], budget_key="steps=5")


def digest(folder: Path) -> dict[str, str]:
    """Every data file under ``folder`` and the SHA-256 of its bytes.

    SQLite's ``-shm`` file (a shared-memory lock index that any reader of a WAL database
    maps) and an empty ``-wal`` file hold no data and are left out.
    """
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and not p.name.endswith("-shm")
        and not (p.name.endswith("-wal") and p.stat().st_size == 0)
    }


def record(key: str) -> EvaluationIn:
    return EvaluationIn(entry_key=key, task="digits", seed=0, budget_key="steps=5", fitness=0.5, status="ok")


def test_new_sqlite_file_settings(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "evo.db"
    with Store(f"sqlite:///{path}") as store:
        store.create_run("r", {}, 1, SCOPE)
        with store._engine.connect() as connection:
            pragmas = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            }
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 30000, "synchronous": 1}
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT version_num FROM alembic_version").fetchone() == (f"{SCHEMA_VERSION:04d}",)
        assert raw.execute("SELECT schema_version FROM runs").fetchone() == (SCHEMA_VERSION,)
    with Store(f"sqlite:///{path}") as again:  # reopening keeps everything
        assert [r.name for r in again.list_runs()] == ["r"]


def test_relative_default_style_url_creates_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with Store() as store:
        assert store.list_runs() == []
    assert (tmp_path / "runs" / "evo.db").is_file()


@pytest.mark.parametrize(
    "content",
    [os.urandom(8192), b"just some text\n" * 20, b"SQLite format 3\x00" + b"\xff" * 200],
    ids=["random-bytes", "text", "bad-header"],
)
def test_file_that_is_not_a_database(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "evo.db").write_bytes(content)
    before = digest(tmp_path)
    with pytest.raises(DatabaseOpenError, match="not an SQLite database") as info:
        Store(f"sqlite:///{tmp_path / 'evo.db'}")
    assert "\n" not in str(info.value)
    assert digest(tmp_path) == before


def test_foreign_sqlite_database_is_refused_unchanged(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "other.db") as raw:
        raw.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        raw.execute("INSERT INTO users VALUES (1, 'ada')")
    raw.close()
    before = digest(tmp_path)
    with pytest.raises(SchemaVersionError, match="not an evo database"):
        Store(f"sqlite:///{tmp_path / 'other.db'}")
    assert digest(tmp_path) == before


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
@pytest.mark.parametrize(
    ("version", "match"),
    [
        (f"{SCHEMA_VERSION + 1:04d}", "newer evo"),
        ("999", "newer evo"),
        ("banana", "unknown schema version"),
        (None, "not an evo database"),
    ],
)
def test_other_schema_versions_are_refused(
    tmp_path: Path, backend: str, version: str | None, match: str
) -> None:
    with fresh_database_url(backend, tmp_path) as url:
        with Store(url) as store:
            store.create_run("kept", {}, 1, SCOPE)
        engine = create_engine(url)
        with engine.begin() as connection:
            if version is None:
                connection.execute(text("DROP TABLE alembic_version"))
            else:
                connection.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": version})
        engine.dispose()
        before = digest(tmp_path)
        with pytest.raises(SchemaVersionError, match=match) as info:
            Store(url)
        assert "\n" not in str(info.value)
        assert digest(tmp_path) == before
        engine = create_engine(url)
        with engine.connect() as connection:  # nothing was touched
            assert connection.execute(text("SELECT name FROM runs")).scalars().all() == ["kept"]
        engine.dispose()


def test_version_1_database_is_upgraded_on_open(tmp_path: Path) -> None:
    """tests/fixtures/evo_v1.db was written by the version-1 store (tests/fixtures/make_evo_v1.py)."""
    path = tmp_path / "evo.db"
    shutil.copyfile(FIXTURES / "evo_v1.db", path)
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT value FROM evo_meta").fetchone() == ("1",)
    raw.close()
    with Store(f"sqlite:///{path}") as store:
        (run,) = store.list_runs()
        assert (run.name, run.status, run.seed, run.schema_version) == ("v1run", "finished", 3, 1)
        closed = store.generations(run.id)
        assert [g.index for g in closed] == [0, 1]
        assert closed[-1].ga_state == {"generation": 2, "state": 2**100 + 2}  # 128-bit ints survive
        ranked = best(store, run.id, top_k=None)
        assert (ranked[0].label, ranked[0].complete) == ("lion", True)
        assert ranked[0].fitness == pytest.approx(0.8 + 0.005)  # mean over seeds 0, 1 of 0.8 + s/100
        assert len(ranked) == 4 and all(r.n_evaluations == 4 for r in ranked)
        assert [r.genome is None for r in ranked] == [True, False, False, False]
        assert len(store.individuals(run.id, 1)) == 2
        store.create_run("after", {}, 1, SCOPE)  # writes work on the upgraded file
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT version_num FROM alembic_version").fetchone() == (f"{SCHEMA_VERSION:04d}",)
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    raw.close()
    assert "evo_meta" not in tables
    with Store(f"sqlite:///{path}") as again:  # a second open does nothing more
        assert [r.name for r in again.list_runs()] == ["v1run", "after"]


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_migrations_build_exactly_the_models(tmp_path: Path, backend: str) -> None:
    """``alembic upgrade head`` on an empty database yields the ORM's tables and columns."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from storage.orm import Base

    with fresh_database_url(backend, tmp_path) as url:
        Store(url).close()
        engine = create_engine(url)
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        engine.dispose()
    assert [d for d in diff if not (d[0] == "remove_table" and d[1].name == "alembic_version")] == []


def test_damaged_schema_is_refused(tmp_path: Path) -> None:
    Store(f"sqlite:///{tmp_path / 'evo.db'}").close()
    with sqlite3.connect(tmp_path / "evo.db") as raw:
        raw.execute("DROP TABLE evaluations")
    raw.close()
    with pytest.raises(SchemaVersionError, match="lacks tables"):
        Store(f"sqlite:///{tmp_path / 'evo.db'}")


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("not a url", "bad database URL"),
        ("", "bad database URL"),
        ("nosuchdb://host/db", "unknown database kind"),
        ("postgresql+nosuchdriver://u@127.0.0.1/db", "unknown database kind"),
        ("mysql://u@127.0.0.1/db", "driver .* is not installed"),
        ("postgresql+psycopg://evo:evo@127.0.0.1:1/evo", "cannot connect"),  # nothing listens on port 1
    ],
)
def test_bad_urls(url: str, match: str) -> None:
    if "psycopg" in url:
        pytest.importorskip("psycopg")
    started = time.monotonic()
    with pytest.raises(DatabaseOpenError, match=match) as info:
        Store(url)
    assert "\n" not in str(info.value)
    assert time.monotonic() - started < 15  # never hangs


def test_unwritable_locations(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("a plain file")
    before = digest(tmp_path)
    with pytest.raises(DatabaseOpenError, match="cannot create the folder"):
        Store(f"sqlite:///{tmp_path / 'file.txt' / 'runs' / 'evo.db'}")
    with pytest.raises(DatabaseOpenError, match="is a folder"):
        Store(f"sqlite:///{tmp_path}")
    if Path("/proc/self").exists():  # a read-only location even for root
        with pytest.raises(DatabaseOpenError):
            Store("sqlite:////proc/evo-storage-test/evo.db")
    assert digest(tmp_path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders and files")
def test_read_only_folder_and_file(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(DatabaseOpenError):
            Store(f"sqlite:///{locked / 'evo.db'}").create_run("r", {}, 1, SCOPE)
    finally:
        locked.chmod(0o755)
    assert list(locked.iterdir()) == []


def test_read_only_open_reads_and_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "evo.db"
    with Store(f"sqlite:///{path}") as store:
        run = store.create_run("r", {}, 1, SCOPE)
        store.record_evaluation(record("k"))
    before = digest(tmp_path)
    with Store(f"sqlite:///file:{path}?mode=ro&uri=true") as reader:
        assert reader.get_run("r") == run
        assert [e.entry_key for e in reader.evaluations(["k"], "steps=5")] == ["k"]
        with pytest.raises(DatabaseOpenError, match="read-only"):
            reader.record_evaluation(record("other"))
        with pytest.raises(DatabaseOpenError, match="read-only"):
            reader.set_status(run.id, "paused")
    assert digest(tmp_path) == before
    with pytest.raises(DatabaseOpenError, match="cannot open"):
        Store(f"sqlite:///file:{tmp_path / 'missing.db'}?mode=ro&uri=true")


def test_readers_do_not_wait_for_a_writer_and_writers_queue(tmp_path: Path) -> None:
    """WAL: queries run while another process holds the write lock; a writer waits its turn."""
    path = tmp_path / "evo.db"
    store = Store(f"sqlite:///{path}")
    run = store.create_run("r", {}, 1, SCOPE)
    store.record_evaluation(record("before"))
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute(
        "INSERT INTO evaluations (entry_key, task, seed, budget_key, metrics, fitness, status, worker, "
        "device, wall_time_s, created_at) VALUES ('other', 'digits', 0, 'steps=5', '{}', 0.1, 'ok', '', '', "
        "0, '2026-01-01 00:00:00')"
    )
    # Reads complete while the other connection still holds the write lock: had they waited
    # for it they could not return before the COMMIT below (a condition, not a timing).
    assert store.get_run("r") == run
    assert [e.entry_key for e in store.evaluations(["before", "other"], "steps=5")] == ["before"]
    assert len(best(store, run.id)) == 0
    assert other.in_transaction

    # A writer queues: it can only return after the lock holder's COMMIT, which a thread
    # issues once the write has been started (and a little later, so the writer is waiting).
    writing = threading.Event()
    committed_at: list[float] = []

    def commit_when_writing() -> None:
        writing.wait(60)
        time.sleep(0.2)
        committed_at.append(time.monotonic())
        other.execute("COMMIT")

    release = threading.Thread(target=commit_when_writing)
    release.start()
    writing.set()
    assert store.record_evaluation(record("after")) is True  # waited for the lock, then wrote
    returned_at = time.monotonic()
    release.join()
    other.close()
    assert committed_at and returned_at > committed_at[0]
    assert [e.entry_key for e in store.evaluations(["before", "other", "after"], "steps=5")] == [
        "before",
        "other",
        "after",
    ]
    store.close()


def test_storage_errors_are_evo_errors() -> None:
    from optimizers.errors import EvoError

    assert issubclass(StorageError, EvoError) and issubclass(DatabaseOpenError, StorageError)
