"""Tracking to TensorBoard and MLflow, read back by their own libraries.

A tiny inline run with both backends is SIGKILLed right after its generation 1 was closed
in the store but before the trackers saw it, then resumed through ``evo resume``: the
TensorBoard run (event files read by ``EventAccumulator``) and the one MLflow run (read by
``MlflowClient``) must hold every generation exactly once, with the store's values, plus
the winner and the file ``evo export`` writes. A backend that breaks mid-run costs one
warning line, never the run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import evo

from evo.config.schema import parse_config
from evo.execution.inline import InlineExecutor
from evo.runner.driver import Driver, create_run
from evo.runner.events import ObserverGroup, RunObserver
from evo.tracking import observers_for
from evo.tracking.run_summary import RunIdentity
from evo.tracking.tensorboard_backend import MARKER, run_folder
from storage import Store

ROOT = Path(__file__).resolve().parents[1]
GENERATIONS = 3


def tiny_config(tmp: Path) -> dict:
    return {
        "seed": 5,
        "tasks": ["qubic_1d_direct", "six_hump_camel_direct"],
        "evaluation": {"steps": 5, "seeds": [0, 1], "genomes_per_request": 4, "device": "cpu"},
        "population": {"size": 4, "elites": 1, "tournament_k": 2, "generations": GENERATIONS},
        "fixed_entries": ["adam"],
        "executor": {"kind": "inline", "max_retries": 0},
        "tracking": {
            "tensorboard": {"dir": str(tmp / "tb")},
            "mlflow": {"tracking_uri": (tmp / "mlruns").as_uri(), "experiment": "evo-test"},
        },
    }


KILLED_DRIVER = r"""
import json, os, signal, sys
from evo.config.schema import parse_config
from evo.execution.inline import InlineExecutor
from evo.runner.driver import Driver, create_run
from evo.runner.events import ObserverGroup, RunObserver
from evo.tracking import observers_for
from storage import Store

url, config, kill_at = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])

class Killer(RunObserver):
    def generation_closed(self, generation, stats, best_so_far):
        if generation == kill_at:  # closed in the store, not yet seen by the trackers
            os.kill(os.getpid(), signal.SIGKILL)

cfg = parse_config(config)
store = Store(url)
run = create_run(store, cfg, "r")
trackers = observers_for(cfg, store, run)
with InlineExecutor(max_retries=0) as executor:
    Driver(store, run, executor, ObserverGroup([Killer(), *trackers]), cfg=cfg).run()
print("NOT KILLED")
"""


def tensorboard_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    accumulator.Reload()
    return {
        tag: [(e.step, e.value) for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]
    }


def mlflow_runs(tmp: Path):
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.tracking import MlflowClient

    client = MlflowClient((tmp / "mlruns").as_uri())
    experiment = client.get_experiment_by_name("evo-test")
    return client, client.search_runs([experiment.experiment_id])


def test_killed_run_resumes_into_the_same_tensorboard_and_mlflow_runs(tmp_path, capsys) -> None:
    config = tiny_config(tmp_path)
    url = f"sqlite:///{tmp_path / 'evo.db'}"
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_DRIVER, url, json.dumps(config), "1"],
        cwd=ROOT, env={**os.environ, "RAY_AUTH_MODE": "disabled"},
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    killed = tensorboard_scalars(tmp_path / "tb" / "r")["fitness/best"]
    assert [s for s, _ in killed] == [0], "before the kill only generation 0 reached TensorBoard"

    code, _, err = evo(capsys, "resume", "r", "--db", url)
    assert code == 0, err

    with Store(url, read_only=True) as store:
        run = store.get_run("r")
        generations = store.generations(run.id)
    steps = list(range(GENERATIONS))
    scalars = tensorboard_scalars(tmp_path / "tb" / "r")
    assert len(list((tmp_path / "tb" / "r").glob("events.out.tfevents.*"))) == 2, "resume appends a file"
    assert [s for s, _ in scalars["fitness/best"]] == steps, "each generation exactly once"
    expected = [g.best_fitness for g in generations]
    assert [v for _, v in scalars["fitness/best"]] == pytest.approx(expected, rel=1e-6)  # float32 events
    for tag in ("fitness/best_so_far", "task_best/qubic_1d_direct", "evaluations/done", "timing/wall_s"):
        assert [s for s, _ in scalars[tag]] == steps, tag
    done = [v for _, v in scalars["evaluations/done"]]
    assert done == sorted(done) and done[0] > 0

    client, runs = mlflow_runs(tmp_path)
    assert len(runs) == 1, "the resume found the killed run's MLflow run by its tag"
    mlrun = runs[0]
    assert mlrun.info.status == "FINISHED"
    assert mlrun.data.params["population.size"] == "4" and "winner.lr" in mlrun.data.params
    history = client.get_metric_history(mlrun.info.run_id, "fitness/best")
    assert sorted(m.step for m in history) == steps
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == expected
    best_so_far = client.get_metric_history(mlrun.info.run_id, "fitness/best_so_far")
    best_so_far.sort(key=lambda m: m.step)
    assert [m.value for m in best_so_far] == [g.ga_state["best_fitness"] for g in generations]

    exported = tmp_path / "export" / "evolved_optimizer.py"
    exported.parent.mkdir()
    assert evo(capsys, "export", "r", "--db", url, "-o", exported)[0] == 0
    artifact = client.download_artifacts(mlrun.info.run_id, "evolved_optimizer.py", str(tmp_path))
    assert Path(artifact).read_text() == exported.read_text()
    with Store(url, read_only=True) as store:
        winner = store.genome(mlrun.data.tags["evo.winner.hash"])
    assert mlrun.data.tags["evo.winner.rule"] == winner.canonical().describe()


class BreakMlflow(RunObserver):
    """After generation 0 was logged, the MLflow folder becomes a file: every write fails."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def generation_closed(self, generation, stats, best_so_far) -> None:
        if generation == 0:
            shutil.rmtree(self.folder)
            self.folder.write_text("not a folder any more\n")


def test_a_backend_failing_mid_run_warns_once_and_the_run_finishes(tmp_path, capsys) -> None:
    cfg = parse_config(tiny_config(tmp_path))
    store = Store(f"sqlite:///{tmp_path / 'evo.db'}")
    run = create_run(store, cfg, "r")
    trackers = observers_for(cfg, store, run)
    with InlineExecutor(max_retries=0) as executor:
        Driver(
            store, run, executor, ObserverGroup([*trackers, BreakMlflow(tmp_path / "mlruns")]), cfg=cfg
        ).run()
    for tracker in trackers:
        tracker.close()
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning: tracking:")]
    assert len(warnings) == 1 and "mlflow failed" in warnings[0], err
    assert store.get_run("r").status == "finished"
    assert len(store.generations(run.id)) == GENERATIONS
    scalars = tensorboard_scalars(tmp_path / "tb" / "r")
    assert [s for s, _ in scalars["fitness/best"]] == list(range(GENERATIONS)), "TensorBoard went on"


def test_a_new_run_of_the_same_name_gets_its_own_tensorboard_folder(tmp_path) -> None:
    first = RunIdentity(name="r", run_id=1, uid="r@2026-01-01T00:00:00+00:00", stamp="20260101T000000")
    second = RunIdentity(name="r", run_id=1, uid="r@2026-02-01T00:00:00+00:00", stamp="20260201T000000")
    assert run_folder(tmp_path, first) == tmp_path / "r"
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / MARKER).write_text(first.uid + "\n")
    assert run_folder(tmp_path, first) == tmp_path / "r", "a resume finds its own folder"
    assert run_folder(tmp_path, second) == tmp_path / "r@20260201T000000"
