"""Evaluate functions with controllable behaviour, for the executor tests.

Module-level functions, so Ray pickles them by reference; ``tests/`` is on the Ray
workers' ``PYTHONPATH`` (see ``conftest.py``). The behaviour is read from the request:

* ``steps``: every call first sleeps ``steps`` milliseconds (slow and fast requests);
* ``task`` (:func:`scripted_evaluate`): ``"flaky:N"`` raises on the first N calls of the
  request, then succeeds; ``"always_fails"`` raises; ``"bad_request"`` raises an
  ``EvoError`` (which is not retried); ``"crash"`` ends the worker process at once, as an
  out-of-memory kill would; anything else succeeds;
* ``data_dir``: where calls are counted per request, in a real file, so the count
  survives a call landing on another actor process; a request whose id starts with
  ``"held"`` waits (after its sleep) until the file ``<request_id>.release`` appears there
  (an event file the test creates; 60 s at most), so the order of completion is decided
  by the test and not by the machine's load.

Every result is a deterministic function of the request (:func:`synthetic_result`), so two
executors given the same requests must return equal results.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from optimizers.errors import EvoError
from workers.requests import EvalRequest, EvalResult, MemberResult


class BadRequestError(EvoError):
    """Stands for workers' UnknownTaskError / MissingDataError: never worth a retry."""


def synthetic_result(request: EvalRequest) -> EvalResult:
    """One member per (entry, seed) with a fitness that hashes (entry, task, seed, steps)."""
    members = []
    for entry in request.entries:
        for seed in request.seeds:
            digest = hashlib.sha256(f"{entry.key}|{request.task}|{seed}|{request.steps}".encode()).digest()
            fitness = int.from_bytes(digest[:4], "big") / 2**32
            members.append(
                MemberResult(entry_key=entry.key, seed=seed, status="ok", fitness=fitness,
                             accuracy=fitness, steps_done=request.steps)
            )
    return EvalResult(
        request_id=request.request_id, task=request.task, budget_key=request.budget_key,
        members=members, worker=f"pid:{os.getpid()}", device="cpu", path="sequential", wall_time_s=0.0,
    )


def calls_so_far(request: EvalRequest) -> int:
    """How often :func:`scripted_evaluate` has been called for this request."""
    counter = Path(request.data_dir) / f"{request.request_id}.calls"
    return int(counter.read_text()) if counter.exists() else 0


def scripted_evaluate(request: EvalRequest) -> EvalResult:
    """Count the call, sleep ``steps`` ms, then fail or succeed as ``task`` says (module doc)."""
    calls = calls_so_far(request) + 1
    (Path(request.data_dir) / f"{request.request_id}.calls").write_text(str(calls))
    time.sleep(request.steps / 1000)
    if request.request_id.startswith("held"):
        release, deadline = Path(request.data_dir) / f"{request.request_id}.release", time.monotonic() + 60
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    if request.task == "crash":
        os._exit(3)
    if request.task == "bad_request":
        raise BadRequestError(f"unknown task in request {request.request_id}")
    if request.task == "always_fails":
        raise RuntimeError(f"boom #{calls}")
    if request.task.startswith("flaky:") and calls <= int(request.task.split(":")[1]):
        raise RuntimeError(f"transient failure #{calls}")
    return synthetic_result(request)
