"""A classification population's start: one re-initialised model gives, bit for bit, the
stacked parameters and buffers of P models built by ``model_for`` (what the population path
stacked before), and the same divergence bounds."""

from __future__ import annotations

import pytest
import torch

from workers.population.stacked_forward import stack_members
from workers.tasks.classification_runtime import ClassificationRuntime
from workers.tasks.registry import TASKS

SEEDS = [0, 3, 1, 7]


def _runtime(task: str) -> ClassificationRuntime:
    if task == "cifar10":  # the CIFAR CNN (BatchNorm buffers) on a few random images
        from benchmarks.throughput import _synthetic_runtime

        return _synthetic_runtime(TASKS[task], (3, 32, 32), torch.device("cpu"))
    return TASKS[task].runtime("unused", "val", torch.device("cpu"))


@pytest.mark.parametrize("task", ["digits", "two_moons", "cifar10"])
def test_population_start_is_the_stack_of_member_models(task):
    runtime = _runtime(task)
    models = [runtime.model_for(seed, runtime.streams(seed)) for seed in SEEDS]
    params, buffers = stack_members(models)
    template, got_params, got_buffers, bounds = runtime.population_start(
        SEEDS, [runtime.streams(seed) for seed in SEEDS]
    )
    assert template.training and type(template) is type(models[0])
    assert list(got_params) == list(params) and list(got_buffers) == list(buffers)
    for name, value in params.items():
        assert torch.equal(got_params[name], value) and got_params[name].requires_grad, name
    for name, value in buffers.items():
        assert torch.equal(got_buffers[name], value), name
    assert torch.equal(bounds, torch.tensor([runtime.divergence_bound(m) for m in models]))
