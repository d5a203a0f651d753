"""The hand-written MLP population step gives autograd's loss and gradients bit for bit.

Reference: what the population loop did before (and still does for other models):
``ClassificationRuntime.population_loss`` (stacked forward + ``F.cross_entropy``) and
``torch.where(alive, loss, 0).sum().backward()``. Batches of 7 (the division of the mean's
backward is inexact) and of 4, a frozen member, both activations, and steps on the same
buffers (a frozen member after an all-alive step of the same batch size, whose seed is reused
only while every member is alive).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from workers.population.stacked_forward import stack_members
from workers.population.stacked_mlp import StackedMLP, supports
from workers.tasks.classification_runtime import ClassificationRuntime
from workers.tasks.models import MemberDropout, build_model, mlp
from workers.tasks.registry import TASKS


def _case(sizes, activation, members=3):
    models = [
        build_model(lambda: mlp(sizes, activation), torch.Generator().manual_seed(i)) for i in range(members)
    ]
    params, _ = stack_members(models)
    return models[0].train(), params


@pytest.mark.parametrize(("sizes", "activation"), [((64, 128, 64, 10), "relu"), ((2, 16, 16, 2), "tanh")])
def test_loss_and_gradients_are_autograds_bit_for_bit(sizes, activation):
    template, params = _case(sizes, activation)
    runtime: ClassificationRuntime = TASKS["digits"].runtime("unused", "val", torch.device("cpu"))
    manual = StackedMLP(template, {n: p.detach().clone() for n, p in params.items()})
    gen = torch.Generator().manual_seed(5)
    steps = ((7, [1, 0, 1]), (4, [1, 1, 1]), (4, [0, 1, 1]), (4, [1, 1, 1]))
    for batch, alive in ((b, torch.tensor(a, dtype=torch.bool)) for b, a in steps):
        x = torch.randn(3, batch, sizes[0], generator=gen) * 3
        y = torch.randint(0, sizes[-1], (3, batch), generator=gen)
        loss = runtime.population_loss(template, params, {}, (x, y), [])
        torch.where(alive, loss, 0.0).sum().backward()
        got = manual.loss(x, y)
        assert torch.equal(got, loss.detach())
        grads = manual.backward(alive)
        assert list(grads) == list(params)
        for name, p in params.items():
            assert torch.equal(grads[name], p.grad), name
            p.grad = None


def test_supports_only_plain_biased_mlps():
    assert supports(mlp((4, 8, 3), "relu")) and supports(mlp((4, 3), "tanh"))
    assert not supports(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), MemberDropout(0.5), nn.Linear(8, 3)))
    assert not supports(nn.Sequential(nn.Linear(4, 8, bias=False), nn.ReLU(), nn.Linear(8, 3)))
    assert not supports(nn.Sequential(nn.Linear(4, 8), nn.ReLU()))
    assert not supports(nn.Sequential(nn.Linear(4, 8), nn.Sigmoid(), nn.Linear(8, 3)))
    with pytest.raises(ValueError, match="cannot run"):
        StackedMLP(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), {})
