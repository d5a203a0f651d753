"""The sequential loop judges losses the same whether it reads them every step (CPU) or
fetches them once per window (the GPU's way, ``check_every > 1``), so the CUDA path's
deferred divergence check is covered on the CPU."""

from __future__ import annotations

import pytest
import torch

from workers.sequential import check_interval, train_sequential
from workers.tasks.registry import TASKS


def _sgd(lr: float):
    return lambda params, _generator: torch.optim.SGD(params, lr=lr)


def _outcome(task: str, lr: float, steps: int, check_every: int | None):
    runtime = TASKS[task].runtime("./data", "val", torch.device("cpu"))
    return train_sequential(runtime, _sgd(lr), seed=0, steps=steps, check_every=check_every)


@pytest.mark.parametrize(
    ("task", "lr", "status"),
    [("digits", 0.05, "ok"), ("digits", 50.0, "diverged"), ("rosenbrock_direct", 0.5, "diverged")],
)
@pytest.mark.parametrize("check_every", [4, 7, 50])
def test_windowed_loss_checks_give_the_per_step_outcome(task, lr, status, check_every) -> None:
    every_step = _outcome(task, lr, 23, check_every=1)
    windowed = _outcome(task, lr, 23, check_every=check_every)
    assert every_step.status == status
    assert windowed.status == every_step.status
    assert windowed.steps_done == every_step.steps_done
    assert windowed.losses == every_step.losses
    assert windowed.accuracy == every_step.accuracy
    if status == "diverged":
        assert len(windowed.losses) == windowed.steps_done + 1  # the bad loss ends the record


def test_the_cpu_reads_every_step_and_the_gpu_once_per_window() -> None:
    assert check_interval(torch.device("cpu")) == 1
    assert check_interval(torch.device("cuda")) > 1
