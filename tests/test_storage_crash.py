"""Crash safety and concurrent writers, with real processes.

A child runs a fake GA on a SQLite file (save generation, record evaluations, close,
repeat; resuming from the store after each restart) and is killed with SIGKILL at random
moments. After every kill the file must pass ``PRAGMA integrity_check``, hold only whole
runs, populations, evaluations and closed generations (every row equal to the content the
writer derives from its key), and contain every write the child reported after its commit.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from storage_writers import (
    CRASH_RUN,
    CRASH_SCOPE,
    concurrent_writer,
    crash_evaluation,
    crash_ga_state,
    crash_population,
    crash_stats,
    crash_writer,
)

from storage import Store
from storage.testing import BACKENDS, fresh_database_url, postgres_skip_reason

KILLS = 25
MAX_DELAY_S = 0.3
"""Each child is killed uniformly within this long after it started (some before it opened the file)."""

# The forkserver preloads before it applies the parent's sys.path: put tests/ on PYTHONPATH so
# that it can preload storage_writers (else every child imports torch anew, too slow to test).
_TESTS = str(Path(__file__).parent)
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [_TESTS, os.environ.get("PYTHONPATH")]))
CONTEXT = multiprocessing.get_context("forkserver")
# Children fork from a warm interpreter; pytest too, as a child re-imports the main module (pytest).
CONTEXT.set_forkserver_preload(["pytest", "storage_writers"])


@dataclass
class Check:
    """What has been verified so far (stored rows never change, so each is compared once)."""

    rows_checked: int = 0
    evaluations: int = 0
    generations_saved: int = 0
    generations_closed: int = 0
    verified: set[tuple[str, str, int]] = field(default_factory=set)


def read_report(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    return [line.split() for line in path.read_text().splitlines()]


def verify(path: Path, report: Path, check: Check) -> None:
    """Integrity, whole rows only, and every reported commit present; updates ``check``.

    Rows already verified by an earlier call are only checked to still be there; new rows
    are compared field by field with the content the writer derives from their key.
    """
    reported = read_report(report)
    if not path.exists():  # killed before it opened the file
        assert reported == []
        return
    raw = sqlite3.connect(path)  # read-write: the first opener after a kill recovers the WAL
    try:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
        tables = {name for (name,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables != {"alembic_version", "runs", "genomes", "individuals", "evaluations", "generations"}:
            assert tables == set() and reported == []  # the schema is created in one transaction
            return
        stored_rows = raw.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]
    finally:
        raw.close()
    with Store(f"sqlite:///{path}") as store:
        runs = store.list_runs()
        if not runs:
            assert not [r for r in reported if r[0] != "R"] and stored_rows == 0
            return
        (run,) = runs
        assert (run.name, run.scope, run.config) == (CRASH_RUN, CRASH_SCOPE, {"population": 6})
        check.rows_checked += 1

        # The last generation seen may have been saved but not closed: look at it again.
        generation = max(0, check.generations_saved - 1)
        while individuals := store.individuals(run.id, generation):
            got = [(i.slot, i.entry_key, i.genome, i.origin, i.parents) for i in individuals]
            want = [
                (i.slot, i.entry_key, i.genome, i.origin, i.parents) for i in crash_population(generation)
            ]
            assert got == want
            check.rows_checked += len(individuals)
            generation += 1
        assert generation >= check.generations_saved
        check.generations_saved = generation

        closed = store.generations(run.id)
        assert [g.index for g in closed] == list(range(len(closed)))
        assert check.generations_saved in (len(closed), len(closed) + 1)
        for g in closed[max(0, check.generations_closed - 1) :]:
            assert (g.best_fitness, g.mean_fitness, g.std_fitness) == pytest.approx(crash_stats(g.index))
            assert g.ga_state == crash_ga_state(g.index)
            assert store.missing_evaluations(run.id, g.index) == []  # closed only when complete
            check.rows_checked += 1
        check.generations_closed = len(closed)

        keys = sorted({i.entry_key for g in range(check.generations_saved) for i in crash_population(g)})
        rows = store.evaluations(keys, CRASH_SCOPE.budget_key)
        assert len(rows) == stored_rows  # no stored evaluation escapes the check below
        stored_keys = {(r.entry_key, r.task, r.seed) for r in rows}
        assert check.verified <= stored_keys
        for row in rows:
            key = (row.entry_key, row.task, row.seed)
            if key not in check.verified:
                assert row.model_dump(exclude={"created_at"}) == crash_evaluation(*key).model_dump()
                check.verified.add(key)
                check.rows_checked += 1
        check.evaluations = len(rows)

        lost = [r for r in reported if r[0] == "E" and (r[1], r[2], int(r[3])) not in stored_keys]
        lost += [r for r in reported if r[0] == "S" and int(r[1]) >= check.generations_saved]
        lost += [r for r in reported if r[0] == "G" and int(r[1]) >= len(closed)]
        assert lost == []


def wait_for_growth(report: Path, lines_before: int, child, timeout_s: float = 120.0) -> None:
    """Poll until the live child reported a new line (a condition, not a fixed sleep)."""
    deadline = time.monotonic() + timeout_s
    while len(read_report(report)) <= lines_before and child.is_alive():
        assert time.monotonic() < deadline, "the writer made no progress in time"
        time.sleep(0.01)


def test_sigkill_at_random_moments_loses_and_corrupts_nothing(tmp_path: Path) -> None:
    """Kills at random moments: every other one only once the child is writing.

    Half the kills fall anywhere from the child's start (some before it opens the file);
    the other half wait for the child's next reported commit first, so that however loaded
    the machine, at least KILLS // 2 kills hit a writer mid-run. A last child then finishes
    three more generations from whatever the kills left: the run always gets going.
    """
    path, report = tmp_path / "evo.db", tmp_path / "report.txt"
    url = f"sqlite:///{path}"
    rng = random.Random(4)
    kills, check = 0, Check()
    for i in range(KILLS):
        lines_before = len(read_report(report))
        child = CONTEXT.Process(target=crash_writer, args=(url, str(report)))
        child.start()
        if i % 2:
            wait_for_growth(report, lines_before, child)
        time.sleep(rng.uniform(0.0, MAX_DELAY_S))
        child.kill()
        child.join(timeout=30)
        assert child.exitcode is not None, "the writer ignored SIGKILL"
        kills += child.exitcode == -signal.SIGKILL
        verify(path, report, check)
    target = check.generations_saved + 3
    child = CONTEXT.Process(target=crash_writer, args=(url, str(report), target))
    child.start()
    child.join(timeout=300)
    assert child.exitcode == 0
    final = Check()
    verify(path, report, final)  # once more from scratch: every row compared again
    assert final.evaluations >= check.evaluations and final.generations_saved == target
    n_reported = sum(1 for r in read_report(report) if r[0] == "E")
    print(
        f"\ncrash test: {kills} kills, {check.rows_checked + final.rows_checked} row checks, "
        f"{final.evaluations} evaluations / {final.generations_saved} generations saved / "
        f"{final.generations_closed} closed, {n_reported} reported commits, 0 lost"
    )
    assert kills == KILLS  # no child ended on its own: each was killed
    assert final.generations_closed == target >= 3
    # Killed between commit and report, a write is stored but unreported: never the reverse.
    assert final.evaluations >= n_reported


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param(
            b,
            marks=pytest.mark.skipif(
                b == "postgresql" and postgres_skip_reason() is not None, reason=str(postgres_skip_reason())
            ),
        )
        for b in BACKENDS
    ],
)
def test_concurrent_writers_share_one_database(tmp_path: Path, backend: str) -> None:
    """Three processes write their own runs at once, racing on the same evaluation keys."""
    with fresh_database_url(backend, tmp_path) as url:
        Store(url).close()  # create the schema first; the children race on everything else
        start_at = time.time() + 0.5
        writers = [
            CONTEXT.Process(
                target=concurrent_writer, args=(url, str(tmp_path / f"w{i}.txt"), f"run{i}", start_at)
            )
            for i in range(3)
        ]
        for w in writers:
            w.start()
        for w in writers:
            w.join(timeout=120)
        assert [w.exitcode for w in writers] == [0, 0, 0]

        inserted = [
            tuple(r[1:]) for i in range(3) for r in read_report(tmp_path / f"w{i}.txt") if r[0] == "N"
        ]
        keys = {i.entry_key for g in range(3) for i in crash_population(g)}
        expected = {(k, t, str(s)) for k in keys for t in CRASH_SCOPE.tasks for s in CRASH_SCOPE.seeds}
        assert sorted(inserted) == sorted(expected)  # each key inserted exactly once, by one writer
        with Store(url) as store:
            rows = store.evaluations(sorted(keys), CRASH_SCOPE.budget_key)
            assert len(rows) == len(expected)
            for row in rows:
                assert (
                    row.model_dump(exclude={"created_at"})
                    == crash_evaluation(row.entry_key, row.task, row.seed).model_dump()
                )
            runs = store.list_runs()
            assert sorted(r.name for r in runs) == ["run0", "run1", "run2"]
            for run in runs:
                assert [g.index for g in store.generations(run.id)] == [0, 1, 2]
