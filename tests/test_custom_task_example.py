"""``examples/custom_task/`` as a user runs it: copied out of the checkout, put on PYTHONPATH.

``evo run`` with the Ray executor (a local cluster the driver starts; the task's module
reaches the actors through the job's ``runtime_env``), killed with SIGKILL once it has
stored evaluations, then ``evo resume``; then ``evo best``, ``evo best --holdout`` (the
held-out custom task) and ``evo export``, whose file trains a model on its own. Tiny budget.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import torch
from cluster_helpers import EVO, ROOT, count_rows, evo_env, kill_session, wait_for
from exported_files import load_module

pytestmark = pytest.mark.slow

TINY = [
    "population.size=4", "population.elites=1", "population.tournament_k=2", "population.generations=2",
    "evaluation.steps=15", "evaluation.seeds=[0]", "executor.num_actors=1", "executor.cpus_per_actor=1",
    "holdout.top_k=1",
]  # fmt: skip


def test_example_copied_out_of_the_checkout_runs_resumes_ranks_and_exports(tmp_path) -> None:
    project = tmp_path / "my_project"
    shutil.copytree(ROOT / "examples" / "custom_task", project)
    elsewhere = tmp_path / "work"
    elsewhere.mkdir()
    env = evo_env(RAY_AUTH_MODE="disabled")
    env["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], str(project)])
    db = f"sqlite:///{elsewhere / 'my.db'}"

    def evo(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
        done = subprocess.run([*EVO, *args, "--db", db], cwd=elsewhere, env=env, capture_output=True,
                              text=True, timeout=timeout)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        return done

    driver = subprocess.Popen(
        [*EVO, "run", str(project / "config.yaml"), "--name", "ex", "--db", db, *TINY],
        cwd=elsewhere, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(lambda: count_rows(elsewhere / "my.db") > 0 or driver.poll() is not None, 240, "stored rows")
        assert driver.poll() is None, driver.stderr.read().decode()[-3000:]
        rows_at_kill = count_rows(elsewhere / "my.db")
    finally:
        kill_session(driver.pid)
        driver.wait(30)

    resumed = evo("resume", "ex")
    assert "population path" in resumed.stderr and "finished" in resumed.stderr, resumed.stderr[-2000:]
    assert count_rows(elsewhere / "my.db") > rows_at_kill

    best = evo("best", "ex", "--top", "3").stdout
    assert "my_regression@" in best and "adam" in best
    holdout = evo("best", "ex", "--holdout").stdout
    assert "my_regression_noisy@" in holdout
    exported = elsewhere / "winner.py"
    evo("export", "ex", "-o", str(exported), "--class-name", "ExampleWinner")
    module = load_module(exported, "winner")
    optimizer_class = module.ExampleWinner
    weight = torch.nn.Parameter(torch.tensor([2.0, -3.0]))
    optimizer = optimizer_class([weight])
    for _ in range(20):
        optimizer.zero_grad()
        weight.square().sum().backward()
        optimizer.step()
    assert float(weight.detach().square().sum()) < 13.0  # it moved downhill on a quadratic
