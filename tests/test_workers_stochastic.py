"""Stochastic fixed entries (ALME, Azure Sky) score reproducibly from their seed alone."""

from __future__ import annotations

import pytest
import torch

from optimizers.registry import REGISTRY
from workers import EntrySpec, EvalRequest, evaluate
from workers.sequential import train_sequential
from workers.tasks.registry import TASKS

STOCHASTIC = sorted(name for name, entry in REGISTRY.items() if entry.genome is None and entry.stochastic)


def test_alme_and_azure_are_the_stochastic_entries() -> None:
    assert {"alme", "azure_sky"} <= set(STOCHASTIC)


@pytest.mark.parametrize("name", STOCHASTIC)
def test_same_request_gives_the_same_metrics(name: str) -> None:
    def run(seeds: list[int]) -> dict[int, tuple]:
        request = EvalRequest(
            request_id=name, entries=[EntrySpec(key=name, fixed=name)], task="rastrigin_direct",
            seeds=seeds, steps=60,
        )
        return {m.seed: (m.status, m.fitness, m.final_loss) for m in evaluate(request).members}

    torch.manual_seed(123)  # the global RNG must not matter
    first = run([0, 1])
    torch.manual_seed(456)
    again = run([1, 0])
    assert first == again
    assert first[0] != first[1]  # the seed does reach the optimizer


class _SpikyProbe(torch.optim.Optimizer):
    """Calls the closure a second time at a far-away point, like ALME scoring a candidate."""

    def __init__(self, params):
        super().__init__(params, {})

    @torch.no_grad()
    def step(self, closure):
        with torch.enable_grad():
            loss = closure()
        saved = [p.detach().clone() for g in self.param_groups for p in g["params"]]
        for g in self.param_groups:
            for p in g["params"]:
                p.add_(1e6)
        with torch.enable_grad():
            closure()  # a candidate far outside the divergence bound
        for p, old in zip((p for g in self.param_groups for p in g["params"]), saved, strict=True):
            p.copy_(old - 1e-3 * p.grad.sign())
        return loss


def test_only_the_steps_own_loss_judges_divergence() -> None:
    runtime = TASKS["rastrigin_direct"].runtime("./data", "val", torch.device("cpu"))
    outcome = train_sequential(runtime, lambda params, _gen: _SpikyProbe(params), seed=0, steps=5)
    assert outcome.status == "ok", outcome
