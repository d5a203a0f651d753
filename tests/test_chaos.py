"""Chaos soak (bounded): actors killed every few seconds and the driver killed once.

A real ``evo run`` subprocess runs on the local Ray cluster it starts. A background thread
SIGKILLs a random evaluation actor process (``ray::EvaluationActor`` in the driver's
session) each time the run has stored another :data:`KILL_EVERY_ROWS_FRACTION` of its
evaluations (progress, not wall time, paces the kills: the same number of kills on a quiet
or a loaded machine), for as long as a driver runs. Once the run has
stored about a third of its evaluations the driver itself is SIGKILLed (its reaper takes the
cluster down), and ``evo resume`` continues the run on a fresh local cluster, under the same
fire. The finished run must equal an undisturbed inline run: every generation's statistics
and GA state, the final population, the ranking and every evaluation (none lost, none
duplicated: the store's unique key would refuse a duplicate, and the rows are compared).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pytest
from cluster_helpers import (
    EVO,
    ROOT,
    TINY_JOB,
    cmdline,
    count_rows,
    evo_env,
    inline_reference,
    kill_session,
    run_snapshot,
    session_pids,
    wait_for,
    write_job,
)

pytestmark = pytest.mark.slow

KILL_EVERY_ROWS_FRACTION = 0.1
POLL_S = 0.2
DEADLINE_S = 180.0
"""The whole soak, reference run included, must end within this."""
JOB = {
    **TINY_JOB,
    "seed": 9,
    "evaluation": {**TINY_JOB["evaluation"], "steps": 100},
    "population": {**TINY_JOB["population"], "generations": 5},
}


class ActorKiller(threading.Thread):
    """SIGKILLs a random ``ray::EvaluationActor`` of session ``sid`` each ``every_rows`` stored rows."""

    def __init__(self, seed: int, db, every_rows: int) -> None:
        super().__init__(daemon=True)
        self.sid: int | None = None
        self.kills = 0
        self._db, self._every = db, max(1, every_rows)
        self._next = self._every
        self._rng = random.Random(seed)
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(POLL_S):
            if self.sid is None or not self._db.exists() or count_rows(self._db) < self._next:
                continue
            pids = session_pids(self.sid)
            actors = sorted(p for p in pids if cmdline(p).startswith("ray::EvaluationActor"))
            if actors:
                try:
                    os.kill(self._rng.choice(actors), signal.SIGKILL)
                    self.kills += 1
                    self._next = count_rows(self._db) + self._every
                except OSError:
                    pass

    def stop(self) -> None:
        self._halt.set()
        self.join(10)


def test_a_run_under_actor_and_driver_kills_ends_as_an_undisturbed_one(tmp_path) -> None:
    started = time.monotonic()

    def left() -> float:
        return max(1.0, started + DEADLINE_S - time.monotonic())

    reference = inline_reference(tmp_path, JOB, "chaos")
    total_rows = len(reference["evaluations"])
    print(f"reference: {time.monotonic() - started:.0f} s")
    config, db = write_job(tmp_path, JOB), tmp_path / "evo.db"
    ray_tmp = tempfile.mkdtemp(prefix="evo-ray-", dir="/tmp")
    env = evo_env(RAY_AUTH_MODE="disabled", RAY_TMPDIR=ray_tmp)
    killer = ActorKiller(seed=1, db=db, every_rows=int(total_rows * KILL_EVERY_ROWS_FRACTION))
    killer.start()
    procs: list[subprocess.Popen] = []

    def launch(*args: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [*EVO, *args, "--db", f"sqlite:///{db}"], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        procs.append(proc)
        killer.sid = proc.pid
        return proc

    try:
        first = launch("run", str(config), "--name", "chaos")
        third = total_rows // 3
        wait_for(lambda: count_rows(db) >= third or first.poll() is not None, left(), "a third of the rows")
        assert first.poll() is None, first.stderr.read().decode()[-3000:]
        print(f"driver killed at {time.monotonic() - started:.0f} s")
        os.kill(first.pid, signal.SIGKILL)
        rows_at_driver_kill = count_rows(db)
        first.wait(10)
        wait_for(lambda: not session_pids(first.pid), 15, "the killed driver's cluster to go")
        kills_before_resume = killer.kills
        second = launch("resume", "chaos")
        try:
            assert second.wait(left()) == 0, second.stderr.read().decode()[-3000:]
        except subprocess.TimeoutExpired:
            pytest.fail(f"the resumed run did not finish within {DEADLINE_S:g} s of the soak's start")
        killer.stop()
        final = run_snapshot(db, "chaos")
        assert final == reference
        print(f"{killer.kills} actor kills ({kills_before_resume} before the driver's SIGKILL at "
              f"{rows_at_driver_kill} rows) and 1 driver kill survived; {len(final['evaluations'])} "
              f"evaluations, {len(final['final_population'])} final individuals and "
              f"{len(final['generations'])} generations equal the undisturbed run's "
              f"({time.monotonic() - started:.0f} s)")  # fmt: skip
        assert killer.kills >= 3, "the soak was too short to kill anything much"
    finally:
        killer.stop()
        for proc in procs:
            kill_session(proc.pid)
            proc.wait(10)
        shutil.rmtree(ray_tmp, ignore_errors=True)
