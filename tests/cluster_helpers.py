"""Helpers for the tests that run real Ray clusters and `evo` drivers as separate processes.

Processes are found through ``/proc``: by session id (every process a test starts gets a
session of its own, and Ray's processes, renamed ``ray::...`` or not, stay in it) and their
listening TCP sockets through ``/proc/net/tcp{,6}`` and their file descriptors.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
EVO = [sys.executable, "-m", "evo"]


def evo_env(**extra: str) -> dict[str, str]:
    """The environment of an ``evo`` subprocess: this worktree's code first, one torch thread."""
    path = os.pathsep.join(p for p in [str(ROOT), os.environ.get("PYTHONPATH", "")] if p)
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", **extra}

TINY_JOB = {
    "seed": 5,
    "tasks": ["qubic_1d_direct", "six_hump_camel_direct"],
    "evaluation": {"steps": 20, "seeds": [0, 1], "genomes_per_request": 1, "device": "cpu"},
    "population": {"size": 6, "elites": 2, "tournament_k": 3, "generations": 3},
    "fixed_entries": ["adam", "sgd_momentum"],
    "executor": {"kind": "ray", "num_actors": 2, "cpus_per_actor": 1, "max_retries": 1},
}
"""A job of 2 tasks x (6 individuals per generation + 2 fixed entries), one genome per request."""


def write_job(folder: Path, job: dict, name: str = "job.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(job))
    return path


def session_pids(sid: int) -> set[int]:
    """Live processes whose session id is ``sid``."""
    found = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            text = Path(f"/proc/{entry.name}/stat").read_text()
            fields = text[text.rfind(")") + 2 :].split()
            if int(fields[3]) == sid and fields[0] != "Z":
                found.add(int(entry.name))
    return found


def cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return ""


def pids_mentioning(text: str) -> set[int]:
    """Live processes whose command line contains ``text`` (e.g. a node's temp dir)."""
    return {int(e.name) for e in os.scandir("/proc") if e.name.isdigit() and text in cmdline(int(e.name))}


def _listening_inodes() -> dict[int, str]:
    """Socket inode -> local address of every listening TCP socket (IPv4 and IPv6)."""
    found: dict[int, str] = {}
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                parts = line.split()
                if parts[3] != "0A":  # TCP_LISTEN
                    continue
                hex_ip = parts[1].split(":")[0]
                raw = bytes.fromhex(hex_ip)
                # /proc prints each 32-bit word in host (little-endian) order
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                found[int(parts[9])] = socket.inet_ntop(family, raw)
    return found


def listening_addresses(pids: set[int]) -> dict[int, set[str]]:
    """pid -> the local addresses its listening TCP sockets are bound to."""
    inodes = _listening_inodes()
    result: dict[int, set[str]] = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith("socket:["):
                        inode = int(target[8:-1])
                        if inode in inodes:
                            result.setdefault(pid, set()).add(inodes[inode])
    return result


def is_loopback(address: str) -> bool:
    return address == "::1" or address.startswith("127.") or address.startswith("::ffff:127.")


def count_rows(db: Path, table: str = "evaluations") -> int:
    if not db.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as con:
            return con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    except sqlite3.Error:  # schema not there yet
        return 0


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.2) -> float:
    """Poll until ``condition()``; returns the seconds it took, or fails naming ``what``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(poll_s)
    return time.monotonic() - started


def kill_pids(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def kill_session(sid: int) -> None:
    """SIGKILL every process of session ``sid`` (a test's own ``start_new_session`` child)."""
    kill_pids(session_pids(sid))


def evaluation_rows(db: Path) -> list[tuple]:
    """Every stored evaluation's identity and result (not where or how long it ran)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
        return sorted(
            con.execute("SELECT entry_key, task, seed, budget_key, fitness, status, metrics FROM evaluations")
        )


def workers_used(db: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
        return [w for (w,) in con.execute("SELECT worker FROM evaluations")]


def run_snapshot(db: Path, name: str) -> dict:
    """What a finished run must share with an undisturbed one: status, every generation's
    statistics and GA state, the final population, the ranking and every evaluation."""
    from evo.evidence.ranking import best
    from storage import Store

    store = Store(f"sqlite:///{db}")
    run = store.get_run(name)
    generations = store.generations(run.id)
    return {
        "status": run.status,
        "generations": [
            (g.index, g.best_fitness, g.mean_fitness, g.std_fitness, g.ga_state) for g in generations
        ],
        "final_population": [
            i.model_dump(exclude={"run_id"}) for i in store.individuals(run.id, generations[-1].index)
        ],
        "best": [(e.entry_key, e.fitness, e.per_task) for e in best(store, run.id, top_k=100)],
        "evaluations": evaluation_rows(db),
    }


def inline_reference(folder: Path, job: dict, name: str) -> dict:
    """The undisturbed run of ``job``: the inline executor, in this process."""
    from evo.config.schema import parse_config
    from evo.execution.inline import InlineExecutor
    from evo.runner.driver import Driver, create_run
    from storage import Store

    db = folder / "reference.db"
    store = Store(f"sqlite:///{db}")
    cfg = parse_config({**job, "executor": {"kind": "inline", "max_retries": 1}})
    with InlineExecutor(max_retries=1) as executor:
        Driver(store, create_run(store, cfg, name), executor).run()
    return run_snapshot(db, name)
