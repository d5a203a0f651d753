"""Run leases (issue 13): one live driver per run; a SIGKILLed one is taken over.

Store contract on every backend (SQLite; PostgreSQL with EVO_TEST_POSTGRES_URL), then two
real ``evo`` driver processes on one SQLite file: the second is refused in one line naming
the first, the first is SIGKILLed, ``evo runs`` shows the run ``interrupted`` once its
heartbeat is older than the timeout, and ``evo resume`` takes it over and finishes it. The
takeover time (kill -> resume holds the lease) is printed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from evo.runner.lease import holder_is_dead, is_live
from storage import Store
from storage.errors import RunLeasedError, StorageError
from storage.records import RunScope
from storage.testing import BACKENDS, open_test_store, postgres_skip_reason

ROOT = Path(__file__).resolve().parents[1]
SCOPE = RunScope(tasks=["digits"], seeds=[0], budget_key="steps=5")
TIMEOUT_S = 2.0
SLOW = {
    "seed": 5,
    "tasks": ["qubic_1d_direct", "two_moons"],
    "evaluation": {"steps": 30, "seeds": [0, 1], "genomes_per_request": 2, "device": "cpu"},
    "population": {"size": 6, "elites": 1, "tournament_k": 2, "generations": 40},
    "fixed_entries": ["adam"],
    "executor": {"kind": "inline", "max_retries": 0},
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_lease_compare_and_set(backend: str, tmp_path: Path) -> None:
    if backend == "postgresql" and postgres_skip_reason():
        pytest.skip(postgres_skip_reason())
    with open_test_store(backend, tmp_path) as store:
        run = store.create_run("r", {}, 1, SCOPE)
        held = store.acquire_lease(run.id, "a:1:x", TIMEOUT_S)
        assert held.lease_owner == "a:1:x" and held.lease_heartbeat is not None
        assert store.acquire_lease(run.id, "a:1:x", TIMEOUT_S).lease_owner == "a:1:x"  # re-entrant
        with pytest.raises(RunLeasedError, match="a:1:x"):
            store.acquire_lease(run.id, "b:2:y", TIMEOUT_S)
        assert store.renew_lease(run.id, "a:1:x") and not store.renew_lease(run.id, "b:2:y")
        time.sleep(TIMEOUT_S + 0.2)  # a's heartbeat goes stale: b takes over
        assert store.acquire_lease(run.id, "b:2:y", TIMEOUT_S).lease_owner == "b:2:y"
        assert not store.renew_lease(run.id, "a:1:x")  # a learns it lost the lease
        store.release_lease(run.id, "a:1:x")  # not a's: no-op
        assert store.get_run(run.id).lease_owner == "b:2:y"
        store.release_lease(run.id, "b:2:y")
        assert store.get_run(run.id).lease_owner is None
        assert store.acquire_lease(run.id, "c:3:z", TIMEOUT_S).lease_owner == "c:3:z"


def _evo(*args: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "evo", *args], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def test_two_drivers_refused_then_sigkill_taken_over(tmp_path: Path) -> None:
    config = tmp_path / "slow.yaml"
    config.write_text(yaml.safe_dump(SLOW))
    db = tmp_path / "evo.db"
    url = f"sqlite:///{db}"
    env = {**os.environ, "EVO_LEASE_TIMEOUT_S": str(TIMEOUT_S), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT), "RAY_AUTH_MODE": "disabled"}
    first = _evo("run", str(config), "--db", url, "--name", "r", env=env)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until the first driver holds the lease, one generation closed
            time.sleep(0.3)
            try:
                with Store(url, read_only=True) as store:
                    runs = store.list_runs()
                    if runs and runs[0].lease_owner and store.generations(runs[0].id):
                        owner = runs[0].lease_owner
                        break
            except StorageError:  # not created yet
                continue
        else:
            pytest.fail("the first driver never took the lease")
        assert owner.split(":")[1] == str(first.pid)
        second = subprocess.run(
            [sys.executable, "-m", "evo", "run", str(config), "--db", url, "--name", "r"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )
        lines = second.stderr.strip().splitlines()
        assert second.returncode == 2 and len(lines) == 1, second.stderr
        assert owner in lines[0] and "being driven" in lines[0]
        first.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        first.wait(30)
        with Store(url, read_only=True) as store:
            while is_live(store.get_run("r"), timeout=TIMEOUT_S):
                time.sleep(0.05)
        stale_after = time.monotonic() - killed_at
        shown = subprocess.run(
            [sys.executable, "-m", "evo", "runs", "--db", url], cwd=ROOT, env=env, capture_output=True,
            text=True, timeout=120,
        )
        assert "interrupted" in shown.stdout, shown.stdout  # a dead local holder: at once
        resumed = _evo("resume", "r", "--db", url, env=env)
        took_over = None
        while resumed.poll() is None:
            with Store(url, read_only=True) as store:
                holder = store.get_run("r").lease_owner
            if holder and holder.split(":")[1] == str(resumed.pid):
                took_over = time.monotonic() - killed_at
                break
            time.sleep(0.1)
        _, err = resumed.communicate(timeout=300)
        assert resumed.returncode == 0, err[-3000:]
        assert took_over is not None or "finished" in err
        print(f"\nlease stale {stale_after:.2f} s after SIGKILL; resume held it {took_over:.2f} s after "
              f"(timeout {TIMEOUT_S} s; includes starting `evo runs` and `evo resume`)")
        assert stale_after < TIMEOUT_S  # this host's dead pid, not the heartbeat timeout
        with Store(url, read_only=True) as store:
            run = store.get_run("r")
            assert run.status == "finished" and run.lease_owner is None
            assert len(store.generations(run.id)) == SLOW["population"]["generations"]
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()


def test_a_dead_process_of_this_host_holds_no_lease() -> None:
    """A SIGKILLed local driver is taken over at once; other hosts wait for the timeout."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    host = socket.gethostname()[:120]
    assert holder_is_dead(f"{host}:{gone.pid}:abc")
    assert not holder_is_dead(f"{host}:{os.getpid()}:abc")
    assert not holder_is_dead(f"elsewhere-{host}:{gone.pid}:abc")
    assert not holder_is_dead("garbage")
