"""``evo.run`` with the inline executor on a user's task: the example project's module, copied
out of the checkout and put on ``sys.path`` as a user would, trains, ranks and exports; the
stored rows carry the task's key ``name@hash``, and a second call evaluates nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import evo

ROOT = Path(__file__).resolve().parents[1]
TASK = {"import": "my_tasks:make_task", "name": "my_regression", "kwargs": {"hidden": 8, "examples": 300}}
CONFIG = {
    "seed": 3,
    "tasks": ["two_moons", TASK],
    "holdout_tasks": [],
    "evaluation": {"steps": 8, "seeds": [0, 1], "genomes_per_request": 4, "device": "cpu"},
    "population": {"size": 4, "elites": 1, "tournament_k": 2, "generations": 2},
    "fixed_entries": ["adam"],
    "executor": {"kind": "inline", "max_retries": 0},
}


def test_evo_run_trains_ranks_and_exports_a_users_task(tmp_path: Path, monkeypatch) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "examples" / "custom_task" / "my_tasks.py", project)
    monkeypatch.syspath_prepend(str(project))
    db = tmp_path / "evo.db"
    run = evo.run(CONFIG, name="mine", db=db)
    assert run.status == "finished"
    frame = run.evaluations()
    mine = frame[frame["task"].str.startswith("my_regression@")]
    assert len(mine) > 0 and set(mine["seed"]) == {0, 1}
    assert (mine["status"] == "ok").all() and mine["fitness"].between(0.0, 1.05).all()
    best = run.best(3)
    assert any(key.startswith("my_regression@") for key in best[0].per_task)
    path = run.export(tmp_path / "mine.py")
    assert path.exists() and "class " in path.read_text()
    again = evo.run(CONFIG, name="mine", db=db)
    assert len(again.evaluations()) == len(frame)  # resumed a finished run: nothing new
