"""The local Ray cluster `evo run` starts itself: loopback only, and gone with its driver.

A real `evo run` subprocess (its own session) starts its local cluster; once it has stored
evaluations, every TCP socket its processes listen on must be bound to a loopback address.
Then the driver is SIGKILLed and every process of its session (GCS, raylet, workers and the
raylet's agents, which Ray's parent-death signal does not cover) must be gone within
:data:`EXIT_WITHIN_S` seconds: :mod:`evo.execution.ray_reaper` kills what is left.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pytest
from cluster_helpers import (
    EVO,
    ROOT,
    TINY_JOB,
    cmdline,
    count_rows,
    evo_env,
    is_loopback,
    kill_session,
    listening_addresses,
    session_pids,
    wait_for,
    write_job,
)

EXIT_WITHIN_S = 10.0

pytestmark = pytest.mark.slow


def test_local_cluster_listens_on_loopback_and_dies_with_a_sigkilled_driver(tmp_path) -> None:
    job = {**TINY_JOB, "population": {**TINY_JOB["population"], "generations": 30}}
    config = write_job(tmp_path, job)
    db = tmp_path / "evo.db"
    ray_tmp = tempfile_dir()
    driver = subprocess.Popen(
        [*EVO, "run", str(config), "--db", f"sqlite:///{db}", "--name", "local"],
        cwd=ROOT, env=evo_env(RAY_AUTH_MODE="disabled", RAY_TMPDIR=ray_tmp),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(lambda: count_rows(db) >= 4 or driver.poll() is not None, 180, "the first evaluations")
        assert driver.poll() is None, driver.stderr.read().decode()[-3000:]
        processes = session_pids(driver.pid)
        names = {cmdline(p).split(" ")[0].rsplit("/", 1)[-1] for p in processes}
        assert {"gcs_server", "raylet"} <= names and any(n.startswith("ray::") for n in names), names
        listening = listening_addresses(processes)
        assert listening, "the cluster's processes listen on no TCP socket?"
        exposed = {pid: addrs for pid, addrs in listening.items() if not all(map(is_loopback, addrs))}
        assert not exposed, {cmdline(pid)[:80]: addrs for pid, addrs in exposed.items()}

        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(10)
        killed_at = time.monotonic()
        left = session_pids(driver.pid)
        assert left, "nothing of the cluster was running when the driver was killed"
        while left and time.monotonic() - killed_at < EXIT_WITHIN_S:
            time.sleep(0.2)
            left = session_pids(driver.pid)
        gone_after = time.monotonic() - killed_at
        assert not left, f"still running {gone_after:.1f} s after the driver's SIGKILL: " + "; ".join(
            cmdline(p)[:80] for p in left
        )
        print(f"{len(processes)} processes, {sum(map(len, listening.values()))} listening sockets "
              f"(all loopback); all gone {gone_after:.1f} s after the driver's SIGKILL")  # fmt: skip
    finally:
        kill_session(driver.pid)
        driver.wait(10)
        shutil.rmtree(ray_tmp, ignore_errors=True)


def tempfile_dir() -> str:
    """A short fresh folder under /tmp (Ray's Unix socket paths must stay < 108 bytes)."""
    import tempfile

    return tempfile.mkdtemp(prefix="evo-ray-", dir="/tmp")
