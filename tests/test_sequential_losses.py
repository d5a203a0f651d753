"""The sequential path records each step's own loss, never a probe's.

An optimizer that calls the closure again at a far-away point (as ALME scores escape
candidates) must not have that probe's loss recorded nor judged: the member stays ``ok``
and its recorded losses are exactly the first closure value of every step.
"""

from __future__ import annotations

import torch

from workers.sequential import train_sequential
from workers.tasks.registry import TASKS


class _ProbingSignDescent(torch.optim.Optimizer):
    """Sign descent that evaluates a far-away probe point each step; logs both losses."""

    def __init__(self, params, log: dict[str, list[float]]) -> None:
        super().__init__(params, {})
        self.log = log

    @torch.no_grad()
    def step(self, closure):
        with torch.enable_grad():
            loss = closure()
        self.log["own"].append(float(loss))
        params = [p for g in self.param_groups for p in g["params"]]
        saved = [p.detach().clone() for p in params]
        grads = [p.grad.detach().clone() for p in params]
        for p in params:
            p.add_(1e6)
        with torch.enable_grad():
            self.log["probe"].append(float(closure().detach()))
        for p, old, g in zip(params, saved, grads, strict=True):
            p.copy_(old - 1e-2 * g.sign())
        return loss


def test_recorded_losses_are_each_steps_own_first_closure_value() -> None:
    runtime = TASKS["rastrigin_direct"].runtime("./data", "val", torch.device("cpu"))
    log: dict[str, list[float]] = {"own": [], "probe": []}
    def make(params, _gen):
        return _ProbingSignDescent(params, log)

    outcome = train_sequential(runtime, make, seed=0, steps=6)
    assert outcome.status == "ok", outcome
    assert outcome.steps_done == 6
    assert outcome.losses == log["own"], (outcome.losses, log)
    assert all(probe > own for probe, own in zip(log["probe"], log["own"], strict=True))
    assert outcome.final_loss == log["own"][-1]
