"""`evo run --address` on a real two-node Ray cluster with token authentication on.

As users run it: ``ray start --head`` (loopback, token auth, 2 CPUs), a second node joined
with ``ray start --address`` (1 CPU and its own resource ``node_b``), both with ``--block``
in sessions of their own so that the test can kill exactly what it started. The driver is
a real ``evo run CONFIG --address`` subprocess with the token. The evaluations must record
workers on both nodes (a worker's name carries its Ray node id; its pid belongs to one
node's session); then node B's whole session is SIGKILLed mid-run and the run must still
finish equal to an undisturbed inline run: same generations, GA states, final population,
ranking and evaluations, none lost, none duplicated.

One of the job's tasks is a user's task (``examples/custom_task``'s module copied to a folder
outside the checkout): only the driver has that folder on its ``PYTHONPATH``, the nodes do
not, so its module reaches the actors on both nodes through the job's ``runtime_env``
(``py_modules``), and its evaluations must come from both nodes.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from cluster_helpers import (
    EVO,
    ROOT,
    TINY_JOB,
    count_rows,
    evo_env,
    inline_reference,
    kill_session,
    run_snapshot,
    session_pids,
    wait_for,
    workers_used,
    write_job,
)

pytestmark = pytest.mark.slow

RAY = str(Path(sys.executable).with_name("ray"))
CUSTOM = {"import": "my_tasks:make_task", "name": "my_regression", "kwargs": {"hidden": 8, "examples": 400}}
JOB = {
    **TINY_JOB,
    "tasks": [*TINY_JOB["tasks"], CUSTOM],
    "evaluation": {**TINY_JOB["evaluation"], "steps": 100},
    "population": {**TINY_JOB["population"], "generations": 4},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_node(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [RAY, "start", "--block", "--disable-usage-stats", *args], env=env, cwd=ROOT,
        stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def worker_pid(worker: str) -> int:
    """``host:pid@node`` -> pid."""
    return int(worker.split("@")[0].rsplit(":", 1)[1])


def on_path(env: dict[str, str], folder: Path) -> dict[str, str]:
    """``env`` with ``folder`` appended to its ``PYTHONPATH``."""
    return {**env, "PYTHONPATH": os.pathsep.join([env["PYTHONPATH"], str(folder)])}


def custom_task_workers(db: Path) -> list[str]:
    """Workers of the stored evaluations of the user's task."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
        return [w for (w,) in con.execute("SELECT worker FROM evaluations WHERE task LIKE 'my_regression@%'")]


def test_evo_run_on_a_two_node_token_cluster_survives_losing_a_node(tmp_path, monkeypatch) -> None:
    project = tmp_path / "user_project"  # outside the checkout, on the driver's path only
    project.mkdir()
    shutil.copy(ROOT / "examples" / "custom_task" / "my_tasks.py", project)
    monkeypatch.syspath_prepend(str(project))
    reference = inline_reference(tmp_path, JOB, "multi")
    ray_tmp = Path(tempfile.mkdtemp(prefix="evo-ray-", dir="/tmp"))
    token = ray_tmp / "token"
    token.write_text(secrets.token_hex(32))
    port = free_port()
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    node_env = evo_env(**auth)
    address = f"127.0.0.1:{port}"
    head = node_b = driver = None
    try:
        head = start_node(
            ["--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "2",
             "--include-dashboard", "false", "--temp-dir", str(ray_tmp / "head")],
            node_env, tmp_path / "head.log",
        )  # fmt: skip
        wait_for(lambda: _started(tmp_path / "head.log") or head.poll() is not None, 90, "the head node")
        assert head.poll() is None, (tmp_path / "head.log").read_text()[-3000:]
        node_b = start_node(
            ["--address", address, "--num-cpus", "1", "--resources", json.dumps({"node_b": 1})],
            node_env, tmp_path / "node_b.log",
        )  # fmt: skip
        wait_for(lambda: _started(tmp_path / "node_b.log") or node_b.poll() is not None, 90, "node B")
        assert node_b.poll() is None, (tmp_path / "node_b.log").read_text()[-3000:]

        asked = time.monotonic()
        no_token = subprocess.run(
            [*EVO, "run", str(write_job(tmp_path, JOB)), "--db", f"sqlite:///{tmp_path / 'refused.db'}",
             "--address", address],
            cwd=ROOT, env=on_path(evo_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="0" * 64), project),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert no_token.returncode == 2 and "token" in no_token.stderr, no_token.stderr[-2000:]
        assert time.monotonic() - asked < 15  # one probe, not ray.init's 20 s of retries

        db = tmp_path / "evo.db"
        driver_env = on_path(evo_env(**auth), project)
        driver = subprocess.Popen(
            [*EVO, "run", str(write_job(tmp_path, JOB)), "--db", f"sqlite:///{db}", "--name", "multi",
             "--address", address],
            cwd=ROOT, env=driver_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,
        )  # fmt: skip
        on_b: set[str] = set()
        on_head: set[str] = set()
        custom_on: set[str] = set()

        def both_nodes_worked() -> bool:
            b_pids, head_pids = session_pids(node_b.pid), session_pids(head.pid)
            for worker in workers_used(db) if count_rows(db) else []:
                if worker_pid(worker) in b_pids:
                    on_b.add(worker)
                elif worker_pid(worker) in head_pids:
                    on_head.add(worker)
            for worker in custom_task_workers(db) if count_rows(db) else []:
                custom_on.add("b" if worker_pid(worker) in b_pids else "head")
            return (on_b and on_head and len(custom_on) == 2) or driver.poll() is not None

        wait_for(both_nodes_worked, 180, "evaluations from both nodes", poll_s=0.05)
        assert driver.poll() is None, driver.stderr.read().decode()[-3000:]
        nodes = {w.partition("@")[2] for w in on_b | on_head}
        assert len(nodes) == 2 and "" not in nodes, (on_b, on_head)  # stored names tell the nodes apart
        assert custom_on == {"b", "head"}, custom_on  # the user's module reached both nodes
        rows_before = count_rows(db)
        kill_session(node_b.pid)
        node_b.wait(30)
        assert driver.wait(300) == 0, driver.stderr.read().decode()[-3000:]
        final = run_snapshot(db, "multi")
        assert final == reference
        rows = len(final["evaluations"])
        assert any(t.startswith("my_regression@") for _, t, *_ in final["evaluations"])
        print(f"actors on head {sorted(on_head)} and node B {sorted(on_b)}; node B killed after "
              f"{rows_before} of {rows} evaluations; run finished equal to the inline run")  # fmt: skip
    finally:
        for proc in (driver, node_b, head):
            if proc is not None:
                kill_session(proc.pid)
                proc.wait(30)
        shutil.rmtree(ray_tmp, ignore_errors=True)


def _started(log: Path) -> bool:
    """``ray start --block`` says this once its node has joined the cluster."""
    return log.exists() and "will now block forever" in log.read_text(errors="replace")
