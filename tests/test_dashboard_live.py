"""``evo dashboard`` as a person uses it: a real run and a real server, watched in headless Chromium.

A driver (``python -m evo run``, inline executor, about a generation a second) and the
dashboard (``python -m evo dashboard``, real uvicorn on a free 127.0.0.1 port) share one
SQLite file. ``/api/runs`` follows ``generations_done`` upward; the run page, loaded once in
Chromium, shows the generation count and the chart's points advance without a reload,
with zero JavaScript errors. Skips with a message without Chromium. The command's user
errors (no database, not a database, port taken) are one line and exit 2.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from browser_helpers import Browser, chromium_binary
from cli_helpers import evo

from evo.cli.dashboard_command import is_loopback
from optimizers.genome import Genome, Term
from storage import EvaluationIn, IndividualIn, RunScope, Store
from storage.errors import StorageError

ROOT = Path(__file__).resolve().parents[1]
LIVE = {
    "seed": 5,
    "tasks": ["qubic_1d_direct", "two_moons"],
    "evaluation": {"steps": 20, "seeds": [0, 1], "genomes_per_request": 3, "device": "cpu"},
    "population": {"size": 6, "elites": 1, "tournament_k": 2, "generations": 60},
    "fixed_entries": ["adam"],
    "executor": {"kind": "inline", "max_retries": 0},
}
SHOWN = """(() => {
  const chart = document.getElementById('fitness-chart');
  const done = document.getElementById('generations-done');
  const status = document.getElementById('status');
  return chart && done ? [Number(done.textContent), Number(chart.dataset.points), status.textContent,
                          window.__sameDocument === true] : null;
})()"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(probe: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"waited {timeout_s:.0f} s for {what}")


def run_created(url: str) -> bool:
    try:
        with Store(url, read_only=True) as store:
            return bool(store.list_runs())
    except StorageError:  # not created yet
        return False


def api_runs(base: str) -> list[dict] | None:
    try:
        with urllib.request.urlopen(f"{base}/api/runs", timeout=5) as response:
            return json.load(response)
    except OSError:
        return None


def stop(process: subprocess.Popen | None) -> str:
    """Wait for a process sent SIGINT (Ctrl-C); its stderr."""
    if process is None:
        return ""
    try:
        _, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    return err or ""


def test_the_run_page_follows_a_live_run_in_headless_chromium(tmp_path: Path) -> None:
    if chromium_binary() is None:
        pytest.skip("no chromium binary on PATH (install Debian's 'chromium' package; .ci/run does)")
    pytest.importorskip("websocket", reason="websocket-client (the dev extra) drives Chromium's DevTools")
    config = tmp_path / "live.yaml"
    config.write_text(yaml.safe_dump(LIVE))
    url = f"sqlite:///{tmp_path / 'evo.db'}"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "RAY_AUTH_MODE": "disabled"}
    pipes = {"cwd": ROOT, "env": env, "text": True, "stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
    run = ["run", str(config), "--db", url, "--name", "live"]
    driver = subprocess.Popen([sys.executable, "-m", "evo", *run], **pipes)
    server, started = None, time.monotonic()
    try:
        with Browser() as browser:  # Chromium starts while the driver does
            wait_until(lambda: run_created(url) or driver.poll() is not None, 120, "the driver's run")
            port = free_port()
            dashboard = ["dashboard", "--db", url, "--port", str(port), "--refresh", "0.4"]
            server = subprocess.Popen([sys.executable, "-m", "evo", *dashboard], **pipes)
            base = f"http://127.0.0.1:{port}"
            wait_until(lambda: api_runs(base) is not None or server.poll() is not None, 60, "the dashboard")
            assert server.poll() is None and driver.poll() is None
            api_first = api_runs(base)[0]
            browser.goto(f"{base}/runs/live")
            browser.wait_for(SHOWN + " && document.readyState === 'complete'")
            browser.evaluate("window.__sameDocument = true")  # gone if the page reloads
            first = browser.wait_for(f"(s => s && s[0] >= 1 && s)({SHOWN})", timeout_s=60)
            later = browser.wait_for(f"(s => s && s[0] >= {first[0] + 2} && s)({SHOWN})", timeout_s=30)
            api_later = api_runs(base)[0]
            top = browser.evaluate("document.querySelector('#ranking-body tbody a').getAttribute('href')")
            browser.goto(base + top)  # the best entry's genome page, as a click on it opens
            export = browser.wait_for("document.getElementById('export-command')?.textContent")
            maths = browser.evaluate("document.querySelectorAll('.maths math').length")
            lineage = browser.evaluate("document.querySelectorAll('#lineage-body tbody tr').length")
            browser.goto(base + "/")
            listed = browser.wait_for("document.querySelector('#runs-table tbody tr')?.textContent")
            browser.evaluate("1")  # read the events still queued
            errors = browser.errors
        api = f"{api_first['generations_done']} -> {api_later['generations_done']}"
        print(f"\nseen: API generations {api}, "
              f"page {first[0]} -> {later[0]}; {time.monotonic() - started:.1f} s from the driver's start")
        assert api_first["name"] == "live" and api_first["status"] == "running"
        assert api_later["generations_done"] > api_first["generations_done"]
        assert first[1] == first[0] and later[1] == later[0], (first, later)  # a chart point per generation
        assert later[0] >= first[0] + 2 and later[1] > first[1]
        assert first[2] == later[2] == "running"
        assert later[3] is True, "the page reloaded"
        assert export.startswith("evo export live --genome ") and maths >= 1 and lineage >= 1
        assert "live" in listed and "running" in listed
        assert errors == [], errors
    finally:
        for process in (server, driver):  # Ctrl-C to both: the run is paused, as a user stops it
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGINT)
        server_err, driver_err = stop(server), stop(driver)
    assert "Traceback" not in server_err, server_err[-3000:]
    assert driver.returncode in (0, 130), driver_err[-3000:]


def make_store(path: Path) -> str:
    url = f"sqlite:///{path}"
    with Store(url) as store:
        store.create_run("r", {}, 0, RunScope(tasks=["t"], seeds=[0], budget_key="steps=5"))
    return url


def assert_one_line(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_dashboard_user_errors_are_one_line_exit_2(capsys, tmp_path: Path) -> None:
    code, _, err = evo(capsys, "dashboard", "--db", f"sqlite:///{tmp_path / 'none.db'}")
    assert_one_line(code, err, "no database at", "none.db")
    assert not (tmp_path / "none.db").exists()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    code, _, err = evo(capsys, "dashboard", "--db", f"sqlite:///{junk}", "--port", str(free_port()))
    assert_one_line(code, err, "not an SQLite database")
    assert junk.read_bytes() == b"not a database at all" * 100
    url = make_store(tmp_path / "evo.db")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = evo(capsys, "dashboard", "--db", url, "--port", str(port))
    assert_one_line(code, err, f"cannot listen on 127.0.0.1:{port}", "--port")
    code, _, err = evo(capsys, "dashboard", "--db", url, "--host", "no-such-host.invalid")
    assert_one_line(code, err, "no-such-host.invalid")


def synthetic_store(url: str, runs: list[str], generations: int) -> None:
    """Runs with closed generations and results, written through the Store API (no training)."""
    scope = RunScope(tasks=["t1", "t2"], seeds=[0, 1], budget_key="steps=5")
    with Store(url) as store:
        for r, name in enumerate(runs):
            run = store.create_run(name, {"population": {"generations": generations}}, r, scope)
            for gen in range(generations):
                genome = Genome(term_types=(Term.ADAM_TERM,), alphas=(1.0 + 0.1 * gen + r,), lr_log10=-3.0)
                slot = IndividualIn(slot=0, entry_key=genome.hash, genome=genome, origin="init")
                store.save_generation(run.id, gen, [slot])
                fitness = 0.5 + 0.05 * gen + 0.01 * r
                store.record_evaluations([
                    EvaluationIn(entry_key=genome.hash, task=t, seed=s, budget_key="steps=5", fitness=fitness,
                                 status="ok")
                    for t in scope.tasks for s in scope.seeds
                ])  # fmt: skip
                store.close_generation(run.id, gen, fitness, fitness, 0.0, {})
            store.set_status(run.id, "finished")


def test_compare_page_draws_the_repeats_in_chromium(tmp_path: Path) -> None:
    if chromium_binary() is None:
        pytest.skip("no chromium binary on PATH (install Debian's 'chromium' package; .ci/run does)")
    pytest.importorskip("websocket", reason="websocket-client (the dev extra) drives Chromium's DevTools")
    url = f"sqlite:///{tmp_path / 'evo.db'}"
    synthetic_store(url, ["job-r0", "job-r1", "job-r2"], generations=4)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([sys.executable, "-m", "evo", "dashboard", "--db", url, "--port", str(port)],
                              cwd=ROOT, env=env, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with Browser() as browser:
            base = f"http://127.0.0.1:{port}"
            wait_until(lambda: api_runs(base) is not None or server.poll() is not None, 60, "the dashboard")
            browser.goto(f"{base}/compare?runs=job-r0&runs=job-r1&runs=job-r2")
            series = browser.wait_for("document.querySelectorAll('#compare-chart-body .series').length")
            points = browser.evaluate("document.querySelectorAll('#compare-chart-body .point').length")
            rows = browser.evaluate(
                "[...document.querySelectorAll('#compare-table-body tbody tr')].map(r => r.textContent)"
            )
            browser.evaluate("1")
            errors = browser.errors
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)
    assert series == 3 and points == 3 * 4
    assert [r.split("finished")[0] for r in rows[:3]] == ["job-r0", "job-r1", "job-r2"]
    assert rows[3].startswith("spread") and "n = 3" in rows[3]
    assert errors == [], errors


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True), ("0.0.0.0", False),
     ("192.168.1.10", False), ("example.org", False)],
)  # fmt: skip
def test_only_loopback_hosts_serve_without_a_warning(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
