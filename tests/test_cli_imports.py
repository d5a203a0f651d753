"""``evo best`` and ``evo runs`` start without torch, numpy, Ray or Alembic.

A read command answers in well under a second only if it does not import the training
stack (torch alone takes seconds to import on a loaded machine): the CLI imports lazily
what only other commands need (``benchmarks/scale.py --best-only`` measures the wall time).
Each command runs in a fresh interpreter, which then lists the heavy modules it loaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from optimizers.genome import Genome, Term
from storage import EvaluationIn, IndividualIn, RunScope, Store

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "numpy", "ray", "torchvision", "matplotlib", "scipy", "sklearn", "alembic")
HEAVY += ("fastapi", "uvicorn")  # the dashboard's web stack: imported when `evo dashboard` runs
PROBE = """
import sys
from evo.cli.app import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    assert exc.code == 0, exc.code
print("LOADED", *sorted(m for m in {heavy!r} if m in sys.modules))
"""


def make_store(path: Path) -> None:
    genome = Genome(term_types=(Term.ADAM_TERM,), alphas=(1.0,), lr_log10=-2.0)
    scope = RunScope(tasks=["t"], seeds=[0], budget_key="steps=5;split=val;v1")
    with Store(f"sqlite:///{path}") as store:
        run = store.create_run("r", {}, 0, scope)
        store.save_generation(run.id, -1, [IndividualIn(slot=0, entry_key="lion", genome=None, origin="fixed",
                                                        label="lion")])  # fmt: skip
        store.save_generation(
            run.id, 0, [IndividualIn(slot=0, entry_key=genome.hash, genome=genome, origin="init")]
        )
        budget = scope.budget_key
        rows = [EvaluationIn(entry_key=k, task="t", seed=0, budget_key=budget, fitness=0.5, status="ok")
                for k in ("lion", genome.hash)]  # fmt: skip
        store.record_evaluations(rows)


@pytest.mark.parametrize(
    "command", [["best", "r"], ["best", "r", "--json"], ["runs"], ["show", "r"], ["dashboard", "--help"]]
)
def test_read_commands_do_not_import_the_training_stack(tmp_path: Path, command: list[str]) -> None:
    db = tmp_path / "evo.db"
    make_store(db)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *command, "--db", f"sqlite:///{db}"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.strip().splitlines()[-1].split()
    assert loaded == ["LOADED"], loaded


API_PROBE = """
import sys
import evo
names = (evo.open, evo.Run, evo.load_config, evo.RunObserver, evo.run, evo.__version__)
database = evo.open(sys.argv[1])
print([r.name for r in database.runs()])
print("LOADED", *sorted(m for m in {heavy!r} if m in sys.modules))
"""


def test_import_evo_and_its_public_names_do_not_import_the_training_stack(tmp_path: Path) -> None:
    db = tmp_path / "evo.db"
    make_store(db)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", API_PROBE.format(heavy=(*HEAVY, "pandas")), str(db)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    runs, loaded = done.stdout.strip().splitlines()[-2:]
    assert runs == "['r']"
    assert loaded.split() == ["LOADED"], loaded
