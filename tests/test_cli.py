"""The ``evo`` CLI: every user error is one line, exit 2, database unchanged; the commands work.

Commands run in-process through ``evo.cli.app.main`` (the console script's function) on a real
SQLite file; the Ctrl-C test runs the real ``evo`` script in a subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
import yaml
from cli_helpers import evo, fingerprint
from exported_files import load_module

from evo.cli.app import main
from optimizers.genome_optimizer import GenomeOptimizer
from storage import Store

ROOT = Path(__file__).resolve().parents[1]
EVO = Path(sys.executable).with_name("evo")
TINY = {
    "seed": 3,
    "tasks": ["qubic_1d_direct", "two_moons"],
    "evaluation": {"steps": 6, "seeds": [0, 1], "genomes_per_request": 4, "device": "cpu"},
    "population": {"size": 5, "elites": 1, "tournament_k": 2, "generations": 2},
    "fixed_entries": ["adam", "sgd_momentum", "evo_seed_best"],
    "executor": {"kind": "inline", "max_retries": 0},
}




@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict:
    """A config file and a database holding one finished run "tiny", made through the CLI."""
    root = tmp_path_factory.mktemp("cli")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    db = root / "evo.db"
    url = f"sqlite:///{db}"
    try:
        main(["run", str(config), "--db", url])
    except SystemExit as exc:
        assert not exc.code, f"evo run failed with {exc.code}"
    return {"root": root, "config": config, "db": db, "url": url}


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle.lower() in lines[0].lower(), lines[0]


ERROR_CASES = {
    "missing config": (["run", "{root}/nope.yaml"], ["not found"]),
    "invalid config": (["run", "{root}/bad.yaml"], ["population.size"]),
    "bad override value": (["run", "{config}", "population.size=many"], ["population.size"]),
    "bad override syntax": (["run", "{config}", "population.size"], ["override"]),
    "unknown override key": (["run", "{config}", "population.sise=4"], ["sise"]),
    "unknown task": (["run", "{config}", "tasks=[qubic_1d_direct,imagenet]"], ["imagenet"]),
    "unknown fixed entry": (["run", "{config}", "fixed_entries=[adam,sgd9000]"], ["sgd9000"]),
    "missing data": (["run", "{config}", "tasks=[mnist]", "data.dir={root}/empty"], ["mnist"]),
    "bad --db URL": (["run", "{config}", "--db", "not-a-url"], ["storage.url"]),
    "bad --name": (["run", "{config}", "--name", "two words"], ["name"]),
    "cuda where none": (["run", "{config}", "evaluation.device=cuda", "--name", "gpu"], ["cuda"]),
    "changed config, same name": (["run", "{config}", "population.size=6", "--name", "tiny"], ["tiny"]),
    "unknown run (resume)": (["resume", "ghost", "--db", "{url}"], ["ghost"]),
    "unknown run (best)": (["best", "ghost", "--db", "{url}"], ["ghost"]),
    "unknown run (export)": (["export", "ghost", "-o", "{root}/x.py", "--db", "{url}"], ["ghost"]),
    "unknown run (report)": (["report", "ghost", "-o", "{root}/rep", "--db", "{url}"], ["ghost"]),
    "task not in the run": (["best", "tiny", "--task", "cifar10", "--db", "{url}"], ["cifar10"]),
    "unknown genome": (["show", "0123abcd", "--db", "{url}"], ["0123abcd"]),
    "mistyped database": (["runs", "--db", "sqlite:///{root}/typo.db"], ["no database", "typo.db"]),
    "rank and genome": (
        ["export", "tiny", "--rank", "1", "--genome", "ab", "-o", "{root}/x.py", "--db", "{url}"], ["--rank"]
    ),
    "rank too large": (["export", "tiny", "--rank", "999", "-o", "{root}/x.py", "--db", "{url}"], ["999"]),
    "bad class name": (["export", "tiny", "--class-name", "1 bad", "-o", "{root}/x.py", "--db", "{url}"],
                       ["class"]),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_user_errors_print_one_line_exit_2_and_leave_the_database_unchanged(capsys, workspace, case) -> None:
    if case == "cuda where none" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    root = workspace["root"]
    (root / "bad.yaml").write_text(yaml.safe_dump({**TINY, "population": {"size": -3}}))
    (root / "empty").mkdir(exist_ok=True)
    args, needles = ERROR_CASES[case]
    args = [a.format(**workspace) for a in args]
    args = [*args, "--db", workspace["url"]] if args[0] == "run" and "--db" not in args else args
    before = fingerprint(workspace["db"])
    code, out, err = evo(capsys, *args)
    assert_one_line_error(code, err, *needles)
    assert "Traceback" not in out + err
    assert fingerprint(workspace["db"]) == before
    assert not (root / "x.py").exists() and not (root / "typo.db").exists()


def test_gpu_actors_on_a_cluster_without_gpus_fail_at_once(workspace, tmp_path) -> None:
    """The real script starts its own local Ray cluster (no GPU there): one line, exit 2.

    The executor starts before the store is opened for writing, so a new database file is
    not even created.
    """
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    fresh = tmp_path / "fresh.db"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.run(
        [str(EVO), "run", str(workspace["config"]), "--db", f"sqlite:///{fresh}", "--name", "gpu",
         "executor.kind=ray", "executor.num_actors=1", "executor.gpus_per_actor=1", "evaluation.device=auto"],
        cwd=ROOT, env={**env, "RAY_AUTH_MODE": "disabled"}, capture_output=True, text=True, timeout=120,
    )
    assert_one_line_error(proc.returncode, proc.stderr, "gpu")
    assert not fresh.exists()


def test_run_result_commands(capsys, workspace, tmp_path) -> None:
    url = workspace["url"]
    with opened_store(url) as store:
        run = store.get_run("tiny")
        assert run.status == "finished"
        assert len(store.generations(run.id)) == TINY["population"]["generations"]

    code, out, _ = evo(capsys, "runs", "--db", url)
    assert code == 0 and "tiny" in out and "finished" in out

    code, out, _ = evo(capsys, "best", "tiny", "--db", url, "--json", "--top", "20")
    assert code == 0
    ranked = json.loads(out)
    fitness = [e["fitness"] for e in ranked]
    assert fitness == sorted(fitness, reverse=True)
    fixed = {e["label"]: e for e in ranked if e["is_fixed"]}
    assert set(fixed) == set(TINY["fixed_entries"])
    best_evolved = next(e for e in ranked if not e["is_fixed"])

    code, out, _ = evo(capsys, "best", "tiny", "--db", url, "--task", "two_moons")
    assert code == 0 and "two_moons" in out

    code, out, _ = evo(capsys, "show", best_evolved["entry_key"][:8], "--db", url)
    assert code == 0 and best_evolved["entry_key"] in out

    # compare scores the fixed entries again through its own path: all cache hits (the
    # database does not change) and the same fitness as the run's ranking.
    before = fingerprint(workspace["db"])
    code, out, _ = evo(capsys, "compare", workspace["config"], "--db", url)
    assert code == 0 and all(name in out for name in TINY["fixed_entries"])
    assert fingerprint(workspace["db"]) == before
    for name, entry in fixed.items():
        assert f"{entry['fitness']:.4f}" in out, name

    # the exported file needs only torch and steps like GenomeOptimizer on the same genome
    target = tmp_path / "evolved.py"
    code, _, err = evo(capsys, "export", "tiny", "--db", url, "-o", target, "--class-name", "Winner")
    assert code == 0 and target.exists(), err
    module = load_module(target, "evolved")
    genome = _genome_of(url, best_evolved["entry_key"])
    torch.manual_seed(0)
    w1 = torch.nn.Parameter(torch.randn(5))
    w2 = torch.nn.Parameter(w1.detach().clone())
    steps = TINY["evaluation"]["steps"]
    exported = module.Winner([w1], total_steps=steps)
    reference = GenomeOptimizer([w2], genome, total_steps=steps)
    for _ in range(4):
        for w, opt in ((w1, exported), (w2, reference)):
            opt.zero_grad()
            (w**2).sum().backward()
            opt.step()
    torch.testing.assert_close(w1, w2, rtol=0, atol=0)

    # `evo run` on a finished run of the same config prints its table and writes nothing
    code, out, err = evo(capsys, "run", workspace["config"], "--db", url)
    assert code == 0 and "already finished" in err and "adam" in out
    assert fingerprint(workspace["db"]) == before


@contextmanager
def opened_store(url: str) -> Iterator[Store]:
    store = Store(url)
    try:
        yield store
    finally:
        getattr(store, "close", lambda: None)()


def _genome_of(url: str, key: str):
    with opened_store(url) as store:
        return store.genome(key)


def test_report_writes_markdown(capsys, workspace, tmp_path) -> None:
    pytest.importorskip("evo.report.markdown")
    code, _, err = evo(capsys, "report", "tiny", "--db", workspace["url"], "-o", tmp_path / "rep")
    assert code == 0, err
    assert (tmp_path / "rep" / "report.md").exists()


def count_evaluations(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as con:
            return con.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


INTERRUPTED_EVO = r"""
import pathlib, sys, time
from evo.cli.app import main
from storage import Store

marker, at_least, args = pathlib.Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
record = Store.record_evaluations
seen = 0

def record_then_wait(self, rows):
    # Once ``at_least`` rows are stored, say so and wait for the signal: the interrupt
    # lands mid-run whatever the machine's speed.
    global seen
    stored = record(self, rows)
    seen += len(rows)
    if seen >= at_least:
        marker.touch()
        time.sleep(120)
    return stored

Store.record_evaluations = record_then_wait
main(args)
"""


def interrupt_when(db: Path, args: list[str], at_least: int, sig: signal.Signals) -> tuple[int, str]:
    """Run ``evo ARGS`` (the CLI's ``main``); send ``sig`` once it has stored ``at_least`` rows
    and waits (a condition, not a race with a fast run)."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    marker = db.with_name(f"stored-{at_least}")
    marker.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED_EVO, str(marker), str(at_least), *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not marker.exists():
        time.sleep(0.05)
    assert marker.exists(), f"the run never stored {at_least} rows: {proc.poll()}"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def test_ctrl_c_and_sigterm_pause_the_run_and_resume_finishes_it(capsys, tmp_path) -> None:
    config = tmp_path / "slow.yaml"
    config.write_text(yaml.safe_dump({**TINY, "population": {**TINY["population"], "generations": 4}}))
    db = tmp_path / "evo.db"
    url = f"sqlite:///{db}"

    code, err = interrupt_when(db, ["run", str(config), "--db", url, "--name", "paused"], 5, signal.SIGINT)
    assert code == 130, err
    assert "paused" in err and f"evo resume paused --db {url}" in err and "Traceback" not in err
    with opened_store(url) as store:
        assert store.get_run("paused").status == "paused"
    stored = count_evaluations(db)

    # SIGTERM (docker stop) pauses the same way
    code, err = interrupt_when(db, ["resume", "paused", "--db", url], 3, signal.SIGTERM)
    assert code == 130 and "Traceback" not in err, err
    with opened_store(url) as store:
        assert store.get_run("paused").status == "paused"
    assert count_evaluations(db) >= stored + 3  # the resume went on from where it paused

    code, _, err = evo(capsys, "resume", "paused", "--db", url)
    assert code == 0, err
    with opened_store(url) as store:
        run = store.get_run("paused")
        assert run.status == "finished"
        assert len(store.generations(run.id)) == 4
        assert all(store.missing_evaluations(run.id, g) == [] for g in range(-1, 4))


def test_progress_draws_bars_on_a_terminal_and_lines_elsewhere() -> None:
    import io

    from rich.console import Console

    from evo.cli.progress import RichProgress
    from evo.search.aggregation import PopulationStats
    from storage.records import EvaluationIn

    row = EvaluationIn(entry_key="k", task="t", seed=0, budget_key="b", fitness=0.5, status="ok")
    stats = PopulationStats(best=0.75, mean=0.5, std=0.1)
    outputs = {}
    for terminal in (True, False):
        buffer = io.StringIO()
        console = Console(file=buffer, force_terminal=terminal, width=120)
        with RichProgress(console) as progress:
            progress.run_started("demo", 1, 3)
            progress.generation_started(1, total=10, done=4)
            for _ in range(6):
                progress.evaluation_recorded(row)
            progress.generation_closed(1, stats, best_so_far=0.8)
            progress.run_finished("demo")
        outputs[terminal] = buffer.getvalue()
    assert "resuming run 'demo': 1/3 generations done" in outputs[False]
    assert "generation 2/3: best 0.7500 mean 0.5000 std 0.1000 | best so far 0.8000" in outputs[False]
    assert "\x1b[" not in outputs[False]  # no control characters in logs
    assert "evaluations" not in outputs[False] and "run 'demo' finished" in outputs[False]
    for needle in ("generations", "10/10", "generation 2/3", "best 0.8000", "ETA"):
        assert needle in outputs[True], needle


@pytest.mark.parametrize("args", [["best"], ["no-such-command"], ["best", "x", "--top", "0"]])
def test_usage_errors_exit_2_without_a_traceback(capsys, args) -> None:
    code, out, err = evo(capsys, *args)
    assert_one_line_error(code, err)  # issue 13: one line, not click's usage box
    assert "Traceback" not in out + err and "--help" in err
