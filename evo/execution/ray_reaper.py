"""A watchdog that kills a local Ray cluster's processes once the driver that started it dies.

``ray.init()`` without an address starts GCS, raylet, monitor and log monitor as children of
the driver with Linux's parent-death signal, so they die with it. The raylet's own children
do not: after a SIGKILL of the driver the dashboard agent and the runtime-env agent notice
their raylet is gone and then block on flushing their logs to the dead GCS, for minutes.

:func:`start_reaper` (called by :func:`evo.execution.ray_session.ensure_ray` right after it started a
local cluster) runs this file (``python -I ray_reaper.py DRIVER_PID``) in its own session with a pipe
on its stdin whose only writer is the driver. The reaper notes every second which processes
descend from the driver (pid and start time, read from ``/proc``). When the pipe closes (the
driver exited, however it died) it waits :data:`GRACE_S` for Ray's own shutdown and then
SIGKILLs what is left of the last snapshot, skipping a pid whose start time changed (reused).
A process started after the last snapshot (an actor Ray restarted a moment before the driver
died) is reparented to init and no longer descends from anything: the driver therefore puts a
unique marker in the environment of the cluster it starts (:data:`MARKER_ENV`, inherited by
GCS, raylet and every worker), and the reaper also kills every process carrying it.
It needs ``/proc`` (Linux); elsewhere no reaper starts. Nothing of Ray is imported here.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

POLL_S = 1.0
"""Seconds between two snapshots of the driver's descendants."""

GRACE_S = 1.0
"""Seconds granted to processes to exit by themselves once the driver is gone."""

MARKER_ENV = "EVO_RAY_CLUSTER"
"""Environment variable whose value marks the processes of one local cluster."""

ProcKey = tuple[int, int]
"""(pid, start time in clock ticks since boot): a process, even after its pid is reused."""


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of ``pid`` from ``/proc/PID/stat``, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()  # after "pid (comm) ": state, ppid, ...
    return int(fields[1]), int(fields[19])


def descendants(root: int) -> set[ProcKey]:
    """Every live process below ``root`` in the process tree (``root`` excluded)."""
    children: dict[int, list[ProcKey]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            info = _stat(int(entry.name))
            if info is not None:
                children.setdefault(info[0], []).append((int(entry.name), info[1]))
    found: set[ProcKey] = set()
    stack = [root]
    while stack:
        for key in children.get(stack.pop(), []):
            if key not in found:
                found.add(key)
                stack.append(key[0])
    return found


def marked(marker: str) -> set[ProcKey]:
    """Every live process whose environment holds ``MARKER_ENV=marker``."""
    needle = f"{MARKER_ENV}={marker}".encode()
    found: set[ProcKey] = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry.name}/environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            info = _stat(int(entry.name))
            if info is not None:
                found.add((int(entry.name), info[1]))
    return found


def kill_all(processes: set[ProcKey]) -> int:
    """SIGKILL each process still alive with the same start time; returns how many."""
    killed = 0
    for pid, started in processes:
        info = _stat(pid)
        if info is None or info[1] != started or pid == os.getpid():
            continue
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except OSError:
            pass
    return killed


def watch(driver_pid: int, poll_s: float = POLL_S, marker: str | None = None) -> int:
    """Snapshot ``driver_pid``'s descendants until stdin closes, then kill them (and every
    process marked with ``marker``)."""
    snapshot: set[ProcKey] = set()
    while True:
        snapshot |= descendants(driver_pid)
        ready, _, _ = select.select([sys.stdin], [], [], poll_s)
        if ready and not os.read(sys.stdin.fileno(), 1024):
            break
        snapshot = {key for key in snapshot if _stat(key[0]) is not None}
    time.sleep(GRACE_S)
    snapshot |= {key for root in list(snapshot) for key in descendants(root[0])}
    if marker:
        snapshot |= marked(marker)
    return kill_all(snapshot)


def start_reaper(marker: str | None = None) -> subprocess.Popen[bytes] | None:
    """Start the reaper for this process; None where there is no ``/proc``. ``marker``: the
    value of :data:`MARKER_ENV` the cluster's processes were started with.

    The returned process must stay referenced (its stdin is the pipe it watches).
    """
    if not Path("/proc/self/stat").exists():
        return None
    return subprocess.Popen(  # -I: isolated, the stdlib only (this file imports nothing else)
        [sys.executable, "-I", str(Path(__file__).resolve()), str(os.getpid()), marker or ""],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C to the driver's terminal must not stop it
    )


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch(int(sys.argv[1]), marker=sys.argv[2] if len(sys.argv) > 2 else None)
