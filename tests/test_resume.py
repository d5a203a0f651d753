"""Resume identity: SIGKILL the driver at several points, resume, compare with a clean run.

The killed driver is a real separate process (``python -c`` running the real Driver on the
real store); it kills itself with SIGKILL from an observer hook at a precise point: after
its n-th stored evaluation (mid-generation), right after a generation's population was
saved (before its evaluations), or right after a generation was closed (between
generations). Each chain kills the same run several times, then resumes it to the end, and
the final population, every generation's statistics and stored GA state, and the final
fitness must equal those of an uninterrupted run with the same seed.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from evo.config.schema import parse_config
from evo.evidence.ranking import best
from evo.execution import make_executor
from evo.execution.inline import InlineExecutor
from evo.runner.driver import Driver, create_run, find_run
from storage import Store

ROOT = Path(__file__).resolve().parents[1]
TASKS = ["qubic_1d_direct", "six_hump_camel_direct", "digits"]
CONFIG = {
    "seed": 11,
    "tasks": TASKS,
    "evaluation": {"steps": 5, "seeds": [0, 1], "genomes_per_request": 3, "device": "cpu"},
    "population": {"size": 6, "elites": 2, "tournament_k": 3, "generations": 3},
    "fixed_entries": ["adam", "sgd_momentum", "evo_seed_best"],
    "executor": {"kind": "inline", "max_retries": 0},
}

KILLED_DRIVER = r"""
import json, os, signal, sys
from evo.config.schema import parse_config
from evo.runner.driver import Driver, create_run, find_run
from evo.runner.events import RunObserver
from evo.execution import make_executor
from storage import Store

url, config, name, point, n = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])

def die(rows=0):
    print(f"rows recorded: {rows}")
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)

class Killer(RunObserver):
    rows = 0
    def evaluation_recorded(self, row):
        self.rows += 1
        if point == "rows" and self.rows == n:
            die(self.rows)
    def generation_started(self, generation, total, done):
        if point == "started" and generation == n:
            die()
    def generation_closed(self, generation, stats, best_so_far):
        if point == "closed" and generation == n:
            die()

cfg = parse_config(config)
store = Store(url)
run = find_run(store, name) or create_run(store, cfg, name)
with make_executor(cfg.executor) as executor:
    Driver(store, run, executor, Killer()).run()
print("NOT KILLED")
"""


def run_killed(url: str, config: dict, point: str, n: int, name: str = "r") -> str:
    """Run the driver in a subprocess that SIGKILLs itself at (point, n); returns its stdout."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_DRIVER, url, json.dumps(config), name, point, str(n)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == -signal.SIGKILL, f"driver was not killed at {point} {n}:\n{proc.stderr[-3000:]}"
    return proc.stdout


def count_rows(db: Path, table: str) -> int:
    with sqlite3.connect(db) as con:
        return con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def snapshot(store: Store, name: str) -> dict:
    """What must be identical: final population, per-generation stats and GA states."""
    run = store.get_run(name)
    generations = store.generations(run.id)
    last = generations[-1].index
    return {
        "status": run.status,
        "generations": [
            (g.index, g.best_fitness, g.mean_fitness, g.std_fitness, g.ga_state) for g in generations
        ],
        "final_population": [i.model_dump(exclude={"run_id"}) for i in store.individuals(run.id, last)],
        "best": [(e.entry_key, e.fitness, e.per_task) for e in best(store, run.id, top_k=50)],
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """The uninterrupted run (in-process, inline executor)."""
    db = tmp_path_factory.mktemp("reference") / "evo.db"
    store = Store(f"sqlite:///{db}")
    cfg = parse_config(CONFIG)
    run = create_run(store, cfg, "r")
    with InlineExecutor(max_retries=0) as executor:
        Driver(store, run, executor).run()
    return snapshot(store, "r")


def resume_to_end(url: str, config: dict, name: str = "r") -> Store:
    store = Store(url)
    cfg = parse_config(config)
    run = find_run(store, name, cfg)
    assert run is not None and run.status == "running", "a SIGKILLed run stays marked running"
    with make_executor(cfg.executor) as executor:
        Driver(store, run, executor).run()
    return store


KILLS = [
    ("started", 0),  # generation 0 (and the fixed entries) saved, nothing evaluated
    ("rows", 20),  # mid generation 0
    ("closed", 0),  # between generations 0 and 1
    ("rows", 7),  # mid generation 1
    ("started", 2),  # generation 2 saved, none of its new genomes evaluated
    ("closed", 2),  # the last generation closed, the run not yet marked finished
]


def test_sigkilled_inline_run_resumes_to_the_same_end(tmp_path, reference) -> None:
    """One run killed six times in a row (each process resumes the last), then finished."""
    db = tmp_path / "evo.db"
    url = f"sqlite:///{db}"
    for point, n in KILLS:
        before = count_rows(db, "evaluations") if db.exists() else 0
        out = run_killed(url, CONFIG, point, n)
        if point == "rows":  # killed right after the driver saw its n-th row: that row's work item
            # was committed whole (one transaction per work item), so at least n new rows
            assert f"rows recorded: {n}" in out
            assert count_rows(db, "evaluations") - before >= n
        if point == "started":  # the population is stored before any of its evaluations
            with sqlite3.connect(db) as con:
                saved = con.execute(
                    "SELECT COUNT(*) FROM individuals WHERE generation = ?", (n,)
                ).fetchone()[0]
            assert saved == CONFIG["population"]["size"]
            if n == 0:
                assert count_rows(db, "evaluations") == 0
    store = resume_to_end(url, CONFIG)
    assert snapshot(store, "r") == reference


def test_sigkilled_ray_driver_resumes_to_the_same_end(tmp_path, reference, ray_session) -> None:
    """Ray path: the killed driver joins the test session's cluster; the resume runs here."""
    import ray

    address = ray.get_runtime_context().gcs_address
    executor = {"kind": "ray", "num_actors": 1, "max_retries": 1, "address": address}
    ray_config = {**CONFIG, "executor": executor}
    db = tmp_path / "evo.db"
    url = f"sqlite:///{db}"
    assert "rows recorded: 30" in run_killed(url, ray_config, "rows", 30)
    assert count_rows(db, "evaluations") >= 30  # the 30th row's work item was committed whole
    local = {**ray_config, "executor": {**ray_config["executor"], "address": None, "num_actors": 2}}
    store = resume_to_end(url, local)
    assert snapshot(store, "r") == reference
