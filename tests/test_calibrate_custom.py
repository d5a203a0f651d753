"""``evo calibrate`` and ``Run.export(calibrate_on=...)`` on a user's task.

The example project's regression task (``examples/custom_task/my_tasks.py``, copied out of the
checkout and put on ``sys.path`` as a user would) is named by ``module:factory``. Plain
gradient descent at lr 1e-4 barely moves its MLP in 30 steps, so the sweep (rates 10^-1.5 to
10^1.5 times the default) must pick a larger rate, and the written file's default lr is that
pick. Through the Python API the calibrated export of a finished run writes a rate of the
sweep's grid and records the sweep in its header.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

from cli_helpers import evo
from test_api import done  # noqa: F401  (the module fixture: a finished tiny run)

import evo as evo_api
from evo.calibrate.exported_file import read_exported
from evo.calibrate.sweep import GRID_DECADES
from evo.report.optimizer_file import write_optimizer_file
from optimizers.genome import Genome, Term

ROOT = Path(__file__).resolve().parents[1]
DESCENT = Genome(term_types=[Term.GRAD], alphas=[1.0], lr_log10=-4.0, wd_log10=-30.0)


def test_calibrate_on_a_users_task_moves_a_too_small_lr(tmp_path: Path, monkeypatch, capsys) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "examples" / "custom_task" / "my_tasks.py", project)
    monkeypatch.syspath_prepend(str(project))
    source = write_optimizer_file(DESCENT, tmp_path / "descent.py", class_name="Descent", total_steps=30)
    out = tmp_path / "calibrated.py"
    task = "{import: 'my_tasks:make_task', name: my_regression, kwargs: {hidden: 16, examples: 400}}"
    args = ("--task", task, "--steps", 30, "--seeds", 1, "-o", out)
    code, _, err = evo(capsys, "calibrate", source, *args)
    assert code == 0, err
    picked = read_exported(out).genome.lr
    assert picked > DESCENT.lr
    assert any(math.isclose(picked, DESCENT.lr * 10.0**d, rel_tol=1e-6) for d in GRID_DECADES)
    assert "my_regression@" in out.read_text()


def test_a_users_task_that_does_not_import_is_one_line(tmp_path: Path, capsys) -> None:
    source = write_optimizer_file(DESCENT, tmp_path / "descent.py", class_name="Descent", total_steps=30)
    code, _, err = evo(capsys, "calibrate", source, "--task", "no_such_module_xyz:make_task")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no_such_module_xyz" in err
    assert not (tmp_path / "descent_calibrated.py").exists()


def test_run_export_calibrated_on_a_task_writes_a_rate_of_the_sweep(
    done, tmp_path: Path  # noqa: F811
) -> None:
    run = evo_api.open(done["db"]).run(done["summary"]["name"])
    plain = read_exported(run.export(tmp_path / "plain.py"))
    path = run.export(
        tmp_path / "calibrated.py", calibrate_on="two_moons", calibrate_steps=20, calibrate_seeds=1
    )
    calibrated = read_exported(path)
    assert calibrated.genome.model_copy(update={"lr_log10": plain.genome.lr_log10}) == plain.genome
    grid = [plain.genome.lr * 10.0**d for d in GRID_DECADES]
    assert any(math.isclose(calibrated.genome.lr, lr, rel_tol=1e-6) for lr in grid)
    header = path.read_text()
    assert "two_moons" in header and header.count("(x10^") == len(GRID_DECADES)
