"""The local cluster's reaper (evo.execution.ray_reaper) kills a marked process that no longer descends
from the dead driver (an actor Ray restarted after the last snapshot, reparented to init)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import evo.execution.ray_reaper as reaper_module
from evo.execution.ray_reaper import MARKER_ENV

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def test_a_marked_orphan_is_killed_and_an_unmarked_one_is_left() -> None:
    driver = subprocess.Popen(SLEEPER)  # stands for the driver: its descendants are none
    marked = subprocess.Popen(SLEEPER, env={**os.environ, MARKER_ENV: "m-1"}, start_new_session=True)
    other = subprocess.Popen(SLEEPER, env={**os.environ, MARKER_ENV: "m-2"}, start_new_session=True)
    reaper = subprocess.Popen(
        [sys.executable, "-I", str(Path(reaper_module.__file__)), str(driver.pid), "m-1"],
        stdin=subprocess.PIPE,
    )
    try:
        reaper.stdin.close()  # the driver's end of the pipe: the driver is gone
        reaper.wait(30)
        assert marked.wait(10) == -9  # SIGKILLed by the reaper
        assert other.poll() is None  # another cluster's marker: left alone
    finally:
        for proc in (driver, marked, other):
            proc.kill()
            proc.wait()
