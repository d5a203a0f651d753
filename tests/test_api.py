"""The public Python API (``import evo``): a whole run from ``python -c``, then every read.

One tiny inline run is driven in a fresh interpreter exactly as a user would (``evo.run`` on
a config dict, then ``best``, ``export``, ``evaluations``); the other tests read that real
SQLite file back through the API and check it against the store, sqlite3 and the CLI.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from cli_helpers import evo as evo_cli
from cli_helpers import fingerprint
from exported_files import load_module

import evo
from evo.runner.events import RunObserver
from optimizers.errors import EvoError
from storage import Store
from workers.requests import budget_key

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "seed": 5,
    "tasks": ["qubic_1d_direct", "two_moons"],
    "holdout_tasks": ["rosenbrock_direct"],
    "evaluation": {"steps": 6, "seeds": [0, 1], "genomes_per_request": 4, "device": "cpu"},
    "population": {"size": 5, "elites": 1, "tournament_k": 2, "generations": 2},
    "fixed_entries": ["adam", "sgd_momentum"],
    "executor": {"kind": "inline", "max_retries": 0},
}
DONE_WHEN = """
import json, sys
import evo
cfg, db, out = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
r = evo.run(cfg, db=db)
best = r.best()
path = r.export(out)
frame = r.evaluations()
assert len(frame) > 0
print(json.dumps({"name": r.name, "status": r.status, "best": [e.entry_key for e in best],
                  "exported": str(path), "rows": len(frame)}))
"""


@pytest.fixture(scope="module")
def done(tmp_path_factory) -> dict:
    """``python -c "import evo; evo.run(...)"``: a whole tiny run in a fresh interpreter."""
    root = tmp_path_factory.mktemp("api")
    db, out = root / "evo.db", root / "winner" / "evolved.py"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", DONE_WHEN, json.dumps(TINY), str(db), str(out)],
        cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"root": root, "db": db, "url": f"sqlite:///{db}", "out": out, "summary": summary}


def test_python_c_drives_a_whole_run_and_exports_a_working_optimizer(done) -> None:
    summary = done["summary"]
    assert summary["status"] == "finished" and summary["rows"] > 0
    assert Path(summary["exported"]) == done["out"]
    with Store(done["url"]) as store:
        run = store.get_run(summary["name"])
        assert [g.index for g in store.generations(run.id)] == [0, 1]
    module = load_module(done["out"], "evolved")
    weight = torch.nn.Parameter(torch.tensor([3.0, -2.0]))
    class_name = module.__doc__.split(":", 1)[0]  # the file names its class first
    assert class_name.endswith("Optimizer")
    optimizer = getattr(module, class_name)([weight])
    assert isinstance(optimizer, torch.optim.Optimizer)
    for _ in range(3):
        optimizer.zero_grad()
        (weight**2).sum().backward()
        optimizer.step()
    assert not torch.equal(weight.detach(), torch.tensor([3.0, -2.0]))


def test_open_lists_the_run_and_best_is_evo_best(done, capsys) -> None:
    name = done["summary"]["name"]
    database = evo.open(done["db"])  # a file path works as well as a URL
    assert [r.name for r in database.runs()] == [name]
    run = database.run(name)
    assert run.status == "finished" and run.config["seed"] == TINY["seed"]
    code, out, err = evo_cli(capsys, "best", name, "--json", "--top", "3", "--db", done["url"])
    assert code == 0, err
    assert [e.entry_key for e in run.best(3)] == [e["entry_key"] for e in json.loads(out)]
    assert [e.entry_key for e in run.best()] == done["summary"]["best"]
    evolved = run.best(2, fixed=False)
    assert len(evolved) == 2 and not any(e.is_fixed for e in evolved)
    assert [e.rank for e in evolved] == sorted(e.rank for e in evolved)


def test_evaluations_are_every_stored_row_of_the_run(done) -> None:
    """Counted independently with sqlite3: the run's entries x its tasks and seeds, per budget."""
    run = evo.open(done["url"]).run(done["summary"]["name"])
    frame = run.evaluations()
    record = run.record
    con = sqlite3.connect(done["db"])
    try:
        keys = {k for (k,) in con.execute("SELECT entry_key FROM individuals WHERE run_id = ?", (record.id,))}
        stored = con.execute("SELECT entry_key, task, seed, budget_key, fitness FROM evaluations").fetchall()
    finally:
        con.close()
    scope = record.scope
    budgets = {scope.budget_key: set(scope.tasks), scope.holdout_budget_key: set(scope.holdout_tasks)}
    expected = {
        (k, t, s, b): f
        for k, t, s, b, f in stored
        if k in keys and t in budgets.get(b, ()) and s in scope.seeds
    }
    got = {
        (r.entry_key, r.task, r.seed, r.budget_key): r.fitness for r in frame.itertuples(index=False)
    }
    assert got == expected
    assert set(frame["split"]) == {"selection", "holdout"}
    assert set(frame.loc[frame["split"] == "holdout", "task"]) == {"rosenbrock_direct"}
    assert set(frame.loc[frame["fixed"], "label"]) == {"adam", "sgd_momentum"}
    assert (frame.loc[frame["fixed"], "generation"] == -1).all()
    assert "metrics.final_loss" in frame.columns and frame["metrics.final_loss"].notna().any()


def test_generations_frame_is_the_closed_generations(done) -> None:
    run = evo.open(done["url"]).run(done["summary"]["name"])
    frame = run.generations()
    with Store(done["url"]) as store:
        stored = store.generations(run.record.id)
    assert list(frame["generation"]) == [g.index for g in stored] == [0, 1]
    assert list(frame["best_fitness"]) == [g.best_fitness for g in stored]
    assert "timing.wall_s" in frame.columns


def test_export_by_rank_is_the_file_evo_export_writes(done, capsys) -> None:
    name, root = done["summary"]["name"], done["root"]
    run = evo.open(done["url"]).run(name)
    path = run.export(root / "api" / "second.py", rank=2, class_name="Second")
    code, _, err = evo_cli(capsys, "export", name, "--rank", "2", "--class-name", "Second",
                           "-o", root / "cli" / "second.py", "--db", done["url"])  # fmt: skip
    assert code == 0, err
    assert path == root / "api" / "second.py"
    assert path.read_text() == (root / "cli" / "second.py").read_text()
    assert "class Second(" in path.read_text()


def test_run_again_resumes_the_finished_run_without_evaluating(done) -> None:
    before = fingerprint(done["db"])
    again = evo.run(TINY, db=done["db"])
    assert again.name == done["summary"]["name"] and again.status == "finished"
    assert fingerprint(done["db"]) == before


def test_report_writes_the_markdown_report(done) -> None:
    run = evo.open(done["url"]).run(done["summary"]["name"])
    path = run.report(done["root"] / "report", landscape_steps=0)
    assert path.name == "report.md" and path.with_name("index.html").is_file()
    assert run.name in path.read_text()


class Counting(RunObserver):
    def __init__(self) -> None:
        self.events: list[str] = []
        self.rows = 0

    def run_started(self, run_name: str, first_generation: int, generations: int) -> None:
        self.events.append(f"start {run_name} {first_generation}/{generations}")

    def evaluation_recorded(self, row) -> None:
        self.rows += 1

    def generation_closed(self, generation: int, stats, best_so_far: float) -> None:
        self.events.append(f"closed {generation}")

    def run_finished(self, run_name: str) -> None:
        self.events.append("finished")


def test_observers_see_every_stored_evaluation_in_order(tmp_path) -> None:
    first, second = Counting(), Counting()
    cfg = {**TINY, "holdout_tasks": [], "population": {**TINY["population"], "generations": 1}}
    run = evo.run(cfg, name="watched", db=tmp_path / "w.db", observers=[first, second])
    assert first.events == second.events == ["start watched 0/1", "closed 0", "finished"]
    assert first.rows == second.rows == len(run.evaluations()) > 0


def test_load_config_takes_a_file_a_mapping_and_overrides(tmp_path) -> None:
    import yaml

    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    from_file = evo.load_config(path, overrides=["population.size=7"])
    from_dict = evo.load_config(TINY, ["population.size=7"])
    assert from_file == from_dict and from_file.population.size == 7
    assert evo.load_config(from_dict) == from_dict


def bad_calls(root: Path, url: str, name: str) -> dict:
    return {
        "invalid config": lambda: evo.run({**TINY, "population": {"size": -3}}, db=url),
        "bad override": lambda: evo.run(TINY, db=url, overrides=["population.size"]),
        "unknown task": lambda: evo.run({**TINY, "tasks": ["imagenet"]}, db=url),
        "changed config, same name": lambda: evo.run(TINY, name=name, db=url, overrides=["seed=9"]),
        "observer of the wrong type": lambda: evo.run(TINY, name="new", db=url, observers=[object()]),
        "not a config": lambda: evo.load_config(42),
        "missing database": lambda: evo.open(root / "typo.db"),
        "unknown run": lambda: evo.open(url).run("ghost"),
        "rank too large": lambda: evo.open(url).run(name).export(root / "x.py", rank=999),
        "bad class name": lambda: evo.open(url).run(name).export(root / "x.py", class_name="1 bad"),
        "k below 1": lambda: evo.open(url).run(name).best(0),
    }


@pytest.mark.parametrize(
    "case", list(bad_calls(Path("."), "", "")),
)
def test_user_errors_raise_one_line_evo_errors_and_leave_the_database_unchanged(done, case) -> None:
    root, name = done["root"], done["summary"]["name"]
    before = fingerprint(done["db"])
    with pytest.raises(EvoError) as raised:
        bad_calls(root, done["url"], name)[case]()
    message = str(raised.value)
    assert message and "\n" not in message
    assert fingerprint(done["db"]) == before
    assert not (root / "x.py").exists() and not (root / "typo.db").exists()


def test_task_protocol_is_public_when_the_module_exists() -> None:
    if importlib.util.find_spec("workers.tasks.protocol") is None:
        pytest.skip("workers.tasks.protocol (custom tasks) is not in this tree")
    from workers.tasks.protocol import Task

    assert evo.Task is Task


def test_evaluations_of_a_funnel_with_lr_variants_are_every_row_it_stored(tmp_path) -> None:
    """A fresh database holding one run: every stored row is that run's, each in its split."""
    cfg = {
        **TINY,
        "holdout_tasks": [],
        "evaluation": {**TINY["evaluation"], "steps": [3, 6], "lr_multipliers": [0.5, 1.0]},
        "population": {**TINY["population"], "generations": 1},
    }
    db = tmp_path / "funnel.db"
    frame = evo.run(cfg, db=db).evaluations()
    con = sqlite3.connect(db)
    try:
        stored = set(con.execute("SELECT entry_key, task, seed, budget_key FROM evaluations"))
    finally:
        con.close()
    got = list(zip(frame["entry_key"], frame["task"], frame["seed"], frame["budget_key"], strict=True))
    assert len(got) == len(set(got)) and set(got) == stored
    splits = dict(zip(frame["budget_key"], frame["split"], strict=True))
    assert splits == {budget_key(3): "rung0", budget_key(6): "selection"}
    assert set(frame["lr_multiplier"]) == {0.5, 1.0}
    halves = frame[frame["lr_multiplier"] == 0.5]
    assert halves["fixed"].any() and (~halves["fixed"]).any()
