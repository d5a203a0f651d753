"""Torch threads follow the CPUs a worker was given: one per CPU, never more than the cores.

The inline executor sets the driver process's torch threads; each Ray actor sets its own
(``EvaluationActor.info()["torch_threads"]`` reports what is in effect inside the actor).
``executor.threads_per_actor`` overrides the count, still capped at the cores.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from executor_helpers import scripted_evaluate

from evo.config.schema import ExecutorConfig
from evo.errors import ConfigError
from evo.execution import make_executor
from evo.execution.ray_pool import RayExecutor
from workers.process import available_cores, thread_count

CORES = available_cores()


@pytest.fixture
def torch_threads() -> Iterator[None]:
    """Restore this process's torch threads after a test changed them."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(
    ("cpus", "requested", "expected"),
    [(0.5, None, 1), (1.0, None, 1), (1.9, None, 1), (2.0, None, min(2, CORES)), (64.0, None, CORES),
     (1.0, 3, min(3, CORES)), (0.25, 10**6, CORES)],
)  # fmt: skip
def test_thread_count_is_one_per_cpu_given_capped_at_the_cores(cpus, requested, expected) -> None:
    assert thread_count(cpus, requested) == expected


@pytest.mark.parametrize(("cpus", "requested"), [(1.0, None), (64.0, None), (1.0, 10**3)])
def test_inline_executor_sizes_the_driver_threads(torch_threads, cpus, requested) -> None:
    torch.set_num_threads(CORES + 3)  # whatever was there before
    cfg = ExecutorConfig(kind="inline", cpus_per_actor=cpus, threads_per_actor=requested)
    with make_executor(cfg, evaluate=scripted_evaluate):
        assert torch.get_num_threads() == thread_count(cpus, requested)
    assert 1 <= torch.get_num_threads() <= CORES


def test_threads_per_actor_is_validated() -> None:
    from evo.config.schema import parse_config

    with pytest.raises(ConfigError, match="threads_per_actor"):
        parse_config({"tasks": ["qubic_1d_direct"], "executor": {"threads_per_actor": 0}})
    assert ExecutorConfig(threads_per_actor=4).threads_per_actor == 4


@pytest.mark.parametrize(("cpus", "requested"), [(0.5, None), (4.0, None), (1.0, 64)])
def test_ray_actors_size_their_threads(ray_session, cpus, requested) -> None:
    """The session has 4 logical CPUs on this machine's cores: 4 CPUs may not mean 4 threads."""
    with RayExecutor(1, cpus_per_actor=cpus, evaluate=scripted_evaluate, threads_per_actor=requested) as pool:
        [info] = pool.actor_info()
    assert info["torch_threads"] == thread_count(cpus, requested) <= CORES
