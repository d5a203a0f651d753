"""Shared fixtures: ONE Ray session for the whole test run, started only when a test asks.

The session (fixture ``ray_session``) is a real local cluster started through the
product's own :func:`evo.execution.ray_session.ensure_ray`, shaped for this 2-core, GPU-less machine:

* ``RAY_AUTH_MODE=disabled`` is set here, at import, before anything can start Ray (and
  is inherited by subprocess drivers that join the session's cluster);
* ``include_dashboard=False`` and a small object store keep its memory low;
* ``num_cpus`` is pinned to :data:`RAY_CPUS` logical CPUs (twice the cores: actors of a
  finished test that are still being torn down do not block the next test's; each actor
  runs torch with one thread per whole CPU it reserves, so nothing oversubscribes much);
* ``num_gpus=1`` declares one *logical* GPU: GPU-scheduled actors run on the CPU but Ray
  schedules and packs them as on a real GPU (``ray.get_gpu_ids() == [0]``), which is how
  the fractional-GPU path is tested here;
* the ``tests/`` folder is put on ``PYTHONPATH`` before Ray starts, so that Ray's worker
  processes can import test helper modules (e.g. ``executor_helpers``) by name.

Tests that use the session must leave it as they found it: close their executors (which
kills their actors) and never call ``ray.shutdown()``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

os.environ["RAY_AUTH_MODE"] = "disabled"

# Property tests draw new examples on every local run; CI (HYPOTHESIS_PROFILE=ci, set by .ci/run)
# draws the same ones each time, so that its verdict on a submission is reproducible.
settings.register_profile("ci", derandomize=True, print_blob=True, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

TESTS_DIR = Path(__file__).resolve().parent
RAY_CPUS = 4
RAY_LOGICAL_GPUS = 1
OBJECT_STORE_BYTES = 128 * 1024 * 1024


def _prepend_pythonpath(folder: Path) -> None:
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(folder) not in parts:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(folder), *parts])


@pytest.fixture(scope="session")
def ray_session() -> Iterator[Any]:
    """The ``ray`` module, initialized once per test run (reused if already initialized)."""
    import ray

    from evo.execution.ray_session import ensure_ray

    _prepend_pythonpath(TESTS_DIR)
    started_here = not ray.is_initialized()
    ensure_ray(
        None,
        num_cpus=RAY_CPUS,
        num_gpus=RAY_LOGICAL_GPUS,
        object_store_memory=OBJECT_STORE_BYTES,
        include_dashboard=False,
    )
    yield ray
    if started_here:
        ray.shutdown()
