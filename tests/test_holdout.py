"""Held-out tasks: validated in the config, scored for the top-k and the fixed entries, never
selected on, and resumable after SIGKILL through Ray with identical results."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from evo.config.schema import parse_config
from evo.errors import ConfigError
from evo.execution import make_executor
from evo.execution.inline import InlineExecutor
from evo.runner.driver import Driver, create_run, find_run
from evo.runner.holdout_work import top_genomes
from storage import Store
from workers.evaluate import evaluate as real_evaluate
from workers.requests import HOLDOUT_SPLIT, EvalRequest, EvalResult

ROOT = Path(__file__).resolve().parents[1]
CONFIG = {
    "seed": 5,
    "tasks": ["qubic_1d_direct", "digits"],
    "holdout_tasks": ["six_hump_camel_direct", "two_moons"],
    "holdout": {"top_k": 2},
    "evaluation": {"steps": 5, "seeds": [0, 1], "genomes_per_request": 3, "device": "cpu"},
    "population": {"size": 6, "elites": 2, "tournament_k": 3, "generations": 3},
    "fixed_entries": ["adam", "sgd_momentum"],
    "executor": {"kind": "inline", "max_retries": 0},
}
HOLDOUT_KEY = "steps=5;split=test;v1"


def holdout_rows(store: Store, name: str) -> list[tuple[str, str, int, float]]:
    run = store.get_run(name)
    keys = [e.entry_key for e in store.run_entries(run.id)]
    rows = store.evaluations(keys, HOLDOUT_KEY, tasks=CONFIG["holdout_tasks"])
    return sorted((r.entry_key, r.task, r.seed, r.fitness) for r in rows)


def snapshot(store: Store, name: str) -> dict:
    """Every generation's population, statistics and GA state, and the held-out rows."""
    run = store.get_run(name)
    generations = store.generations(run.id)
    return {
        "status": run.status,
        "generations": [
            (g.index, g.best_fitness, g.mean_fitness, g.std_fitness, g.ga_state) for g in generations
        ],
        "populations": [
            [i.model_dump(exclude={"run_id"}) for i in store.individuals(run.id, g.index)]
            for g in generations
        ],
        "holdout": holdout_rows(store, name),
    }


def run_inline(db: Path, evaluate=real_evaluate, config: dict = CONFIG) -> Store:
    store = Store(f"sqlite:///{db}")
    run = create_run(store, parse_config(config), "h")
    with InlineExecutor(max_retries=0, evaluate=evaluate) as executor:
        Driver(store, run, executor).run()
    return store


# -- config ----------------------------------------------------------------------------------
def test_holdout_tasks_are_validated() -> None:
    with pytest.raises(ConfigError, match=r"holdout_tasks: unknown task 'nope'"):
        parse_config({**CONFIG, "holdout_tasks": ["nope"]})
    with pytest.raises(ConfigError, match="must not be training tasks; in both: digits"):
        parse_config({**CONFIG, "holdout_tasks": ["digits", "two_moons"]})
    with pytest.raises(ConfigError, match=r"holdout\.top_k"):
        parse_config({**CONFIG, "holdout": {"top_k": 0}})
    cfg = parse_config(CONFIG)
    assert cfg.budget_key == "steps=5;split=val;v1"  # the training key text is unchanged
    assert cfg.holdout_budget_key == HOLDOUT_KEY


def test_top_genomes_orders_by_fitness_then_slot() -> None:
    class Ind:
        def __init__(self, key: str) -> None:
            self.key = key

    population = [Ind(k) for k in "abcadb"]
    fitness = [0.5, 0.9, float("nan"), 0.5, 0.9, 0.9]
    assert top_genomes(population, fitness, 3) == ["b", "d", "a"]


# -- isolation -------------------------------------------------------------------------------
def perturbing(offset: float):
    """An evaluate function that shifts every held-out member's fitness by ``offset``."""

    def evaluate(request: EvalRequest) -> EvalResult:
        result = real_evaluate(request)
        if request.selection_split != HOLDOUT_SPLIT:
            return result
        members = [m.model_copy(update={"fitness": m.fitness + offset}) for m in result.members]
        return result.model_copy(update={"members": members})

    return evaluate


def test_heldout_results_never_change_the_populations(tmp_path) -> None:
    """Two runs whose held-out fitness differs wildly evolve identical populations."""
    low = snapshot(run_inline(tmp_path / "a.db", perturbing(-5.0)), "h")
    high = snapshot(run_inline(tmp_path / "b.db", perturbing(+7.0)), "h")
    assert low["holdout"] and [r[3] + 12.0 for r in low["holdout"]] == pytest.approx(
        [r[3] for r in high["holdout"]]
    )
    assert low["populations"] == high["populations"]
    assert low["generations"] == high["generations"]


def test_top_k_and_fixed_entries_are_scored_on_the_holdout_tasks(tmp_path) -> None:
    store = run_inline(tmp_path / "evo.db")
    run = store.get_run("h")
    assert run.scope.holdout_tasks == CONFIG["holdout_tasks"] and run.scope.holdout_budget_key == HOLDOUT_KEY
    expected: set[str] = {i.entry_key for i in store.individuals(run.id, -1)}
    for g in store.generations(run.id):
        population = store.individuals(run.id, g.index)
        keys = list(dict.fromkeys(i.entry_key for i in population))
        rows = store.evaluations(keys, run.scope.budget_key, tasks=CONFIG["tasks"])
        from evo.search.aggregation import genome_fitness

        fit = genome_fitness(rows, keys, CONFIG["tasks"], [0, 1])
        expected |= set(sorted(keys, key=lambda k: -fit[k])[:2])
    stored = {r[0] for r in holdout_rows(store, "h")}
    assert stored == expected
    per_key = len(CONFIG["holdout_tasks"]) * 2
    assert len(holdout_rows(store, "h")) == per_key * len(expected)
    # held-out rows never enter the training scope
    training = store.evaluations(list(stored), run.scope.budget_key)
    assert not {r.task for r in training} & set(CONFIG["holdout_tasks"])


GRID = {**CONFIG, "fixed_lr_grid": [0.5, 1], "population": {**CONFIG["population"], "generations": 1}}


@pytest.mark.parametrize("fixed_grid", [True, False])
def test_holdout_scores_the_fixed_grid_points_only_when_asked(tmp_path, fixed_grid: bool) -> None:
    config = {**GRID, "holdout": {"top_k": 2, "fixed_grid": fixed_grid}}
    store = run_inline(tmp_path / "evo.db", config=config)
    fixed = store.individuals(store.get_run("h").id, -1)
    own_lr = {i.entry_key for i in fixed if "@lr*" not in (i.label or "")}
    grid = {i.entry_key for i in fixed} - own_lr
    assert len(own_lr) == 2 and len(grid) == 2
    stored = {r[0] for r in holdout_rows(store, "h")}
    assert own_lr <= stored
    assert (grid <= stored) if fixed_grid else not (grid & stored)


# -- Ray, SIGKILL, resume --------------------------------------------------------------------
RESUMED = {**CONFIG, "seed": 6, "holdout": {"top_k": 3}}
"""A seed whose later generations bring new genomes into the top 3 (36 held-out rows)."""
KILLED_DRIVER = r"""
import json, os, signal, sqlite3, sys
from evo.config.schema import parse_config
from evo.runner.driver import Driver, create_run, find_run
from evo.execution import make_executor
from storage import Store

url, config, n = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
record = Store.record_evaluations

def killing_record(self, rows):
    stored = record(self, rows)
    if any("split=test" in row.budget_key for row in rows):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as con:
            held_out = con.execute(
                "SELECT COUNT(*) FROM evaluations WHERE budget_key LIKE '%split=test%'"
            ).fetchone()[0]
        if held_out >= n:  # one transaction per work item: the count moves by a request's rows
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)
    return stored

Store.record_evaluations = killing_record
cfg = parse_config(config)
store = Store(url)
run = find_run(store, "h") or create_run(store, cfg, "h")
with make_executor(cfg.executor) as executor:
    Driver(store, run, executor).run()
print("NOT KILLED")
"""


def test_holdout_run_through_ray_resumes_after_sigkill_identically(tmp_path, ray_session) -> None:
    """Killed twice mid held-out scoring (generation 0, then a later one), resumed through Ray."""
    reference = snapshot(run_inline(tmp_path / "reference.db", config=RESUMED), "h")
    total = len(reference["holdout"])
    address = ray_session.get_runtime_context().gcs_address
    config = {**RESUMED, "executor": {"kind": "ray", "num_actors": 1, "max_retries": 1, "address": address}}
    url = f"sqlite:///{tmp_path / 'evo.db'}"
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    for n in (5, total - 3):  # held-out rows stored when killed: in generation 0's, in the last one's
        proc = subprocess.run(
            [sys.executable, "-c", KILLED_DRIVER, url, json.dumps(config), str(n)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
        )  # fmt: skip
        assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    store = Store(url)
    killed = store.get_run("h")
    assert killed.status == "running" and 1 <= len(store.generations(killed.id)) < 3
    cfg = parse_config(config)
    run = find_run(store, "h", cfg)
    with make_executor(cfg.executor) as executor:
        Driver(store, run, executor).run()
    assert snapshot(store, "h") == reference


def test_the_runs_leader_is_scored_on_the_holdout_tasks_under_normalised_fitness(tmp_path) -> None:
    """With a normalised GA fitness the genome ``evo best`` ranks first (raw mean) may never be
    in a generation's top-k; it is scored on the held-out tasks all the same."""
    from evo.evidence.ranking import best

    store = run_inline(tmp_path / "evo.db", config={**CONFIG, "fitness": {"normalize": "rank"}})
    run = store.get_run("h")
    leader = next(e for e in best(store, run.id, top_k=None) if not e.is_fixed)
    rows = [r for r in holdout_rows(store, "h") if r[0] == leader.entry_key]
    assert len(rows) == len(CONFIG["holdout_tasks"]) * 2
