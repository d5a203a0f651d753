"""What the dashboard benchmark and screenshot scripts share: a driver and a dashboard in
subprocesses on one SQLite file, and a client that reads the API as an open run page does."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from storage import Store  # noqa: E402
from storage.errors import StorageError  # noqa: E402

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "RAY_AUTH_MODE": "disabled"}


def evo(*args: str) -> subprocess.Popen:
    """``python -m evo ARGS`` in the background (stdout dropped, stderr kept)."""
    return subprocess.Popen([sys.executable, "-m", "evo", *args], cwd=ROOT, env=ENV, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_run(url: str, driver: subprocess.Popen, timeout_s: float = 180) -> None:
    """Until the driver has created its run in the store (the dashboard needs the schema)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and driver.poll() is None:
        try:
            with Store(url, read_only=True) as store:
                if store.list_runs():
                    return
        except StorageError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the driver made no run ({driver.poll()=}): {driver.stderr.read()[-2000:]}")


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def start_dashboard(url: str, refresh_s: float = 2.0) -> tuple[subprocess.Popen, str]:
    """``evo dashboard`` on a free loopback port; (process, base URL) once it answers."""
    port = free_port()
    server = evo("dashboard", "--db", url, "--port", str(port), "--refresh", str(refresh_s))
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"evo dashboard exited: {server.stderr.read()[-2000:]}")
        try:
            get_json(f"{base}/api/runs")
            return server, base
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("evo dashboard did not answer within 120 s")


def stop(process: subprocess.Popen | None) -> None:
    """Ctrl-C (a run is paused), then wait; kill after 30 s."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class PagePoller:
    """Reads the API as an open run page does, every ``refresh_s``: the run's new generations,
    and its ranking and paired comparisons whenever a generation closed."""

    def __init__(self, base: str, run: str, refresh_s: float) -> None:
        self.base, self.run, self.refresh_s = base, run, refresh_s
        self.last, self.requests = -1, 0

    def tick(self) -> None:
        try:
            run = get_json(f"{self.base}/api/runs/{self.run}?after={self.last}")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return  # not created yet
            raise
        self.requests += 1
        if run["generations"]:
            self.last = run["generations"][-1]["index"]
            get_json(f"{self.base}/api/runs/{self.run}/ranking")
            get_json(f"{self.base}/api/runs/{self.run}/paired")
            self.requests += 2
