"""The sequential path: one model at a time, any ``torch.optim.Optimizer``.

Per step: draw the member's batch, then ``optimizer.step(closure)`` where the closure
zeroes the gradients, computes the batch loss, runs the backward pass and returns the loss.
A step whose loss is NaN/inf or above the task's bound stops the member (as the seed; only
the first call of a step is judged: optimizers that call the closure again, ALME scoring
escape candidates, may meet bad points and discard them themselves). The member's outcome
is then ``diverged`` at that step, with the losses up to and including the bad one.

When the loss is judged (:func:`check_interval`): on a CPU reading a loss costs nothing, so
every step's loss is read inside the closure and a bad one stops the member *before* its
backward pass. On a GPU a read is a host sync that stalls the queue, so the losses stay on
the device and are fetched once per ``check_every`` steps (one ``stack(...).tolist()``);
the first bad loss of the window sets the outcome exactly as above (the steps the device
ran past it are discarded: their losses and parameters never reach the outcome). ALME
reads values on the host anyway and is judged every step.

Nothing per step beyond what a plain loop does: the closure is built once per member, the
batch is an index gather from resident data, the optimizer is built once. Stochastic
optimizers get the member's own ``optimizer`` RNG stream, so scores depend only on the
seed. An exception in training marks the member failed with its error text (the seed
counted a RuntimeError in the step as a divergence; both score -1), unless a loss fetched
after it shows the member had already diverged. An :class:`~optimizers.opaque.alme.ALME` member
also reports its escapes (``get_stats()``): the steps in ``escape_steps`` and their number
in ``extra["escape_count"]``, whatever its status.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from optimizers.errors import one_line
from optimizers.opaque.alme import ALME
from workers.outcome import MemberOutcome
from workers.tasks.models import bind_dropout_generator
from workers.tasks.runtime import Runtime

OptimizerFactory = Callable[[Iterable[torch.nn.Parameter], torch.Generator], torch.optim.Optimizer]
"""(parameters, the member's optimizer RNG stream) -> optimizer."""

CHECK_EVERY = {"cuda": 50}
"""Steps per loss fetch by device type (1 elsewhere: read and judged every step)."""


def check_interval(device: torch.device) -> int:
    """Steps between host reads of the losses on ``device`` (see the module docstring)."""
    return CHECK_EVERY.get(device.type, 1)


class _Diverged(Exception):
    """Stops a member whose loss left the healthy range at step ``step``."""

    def __init__(self, step: int) -> None:
        super().__init__(step)
        self.step = step


class _Closure:
    """The step closure, built once per member; ``batch`` is set before each step.

    ``first`` holds the step's own loss: a float when judged at once (``immediate``; a bad
    one raises before the backward pass), else the detached device tensor.
    """

    def __init__(self, runtime: Runtime, model: nn.Module, bound: float, immediate: bool) -> None:
        self.runtime, self.model, self.bound, self.immediate = runtime, model, bound, immediate
        self.optimizer: torch.optim.Optimizer | None = None
        self.batch: Any = None
        self.step = 0
        self.calls = 0
        self.first: Any = None

    def __call__(self) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.runtime.loss(self.model, self.batch)
        self.calls += 1
        if self.calls == 1:
            if self.immediate:
                self.first = value = float(loss.detach())
                if not (math.isfinite(value) and value <= self.bound):
                    raise _Diverged(self.step)
            else:
                self.first = loss.detach()
        loss.backward()
        return loss


class _LossLog:
    """The member's losses: floats, plus a window of device tensors not yet fetched."""

    def __init__(self, bound: float) -> None:
        self.bound = bound
        self.values: list[float] = []
        self.pending: list[torch.Tensor] = []

    def flush(self) -> None:
        """Fetch the pending losses (one host sync); raise :class:`_Diverged` at the first bad one."""
        if not self.pending:
            return
        fetched = torch.stack(self.pending).tolist()
        self.pending = []
        for value in fetched:
            self.values.append(value)
            if not (math.isfinite(value) and value <= self.bound):
                raise _Diverged(len(self.values) - 1)


def train_sequential(
    runtime: Runtime,
    make_optimizer: OptimizerFactory,
    seed: int,
    steps: int,
    check_every: int | None = None,
) -> MemberOutcome:
    """Train one member for ``steps`` optimizer steps and score it.

    ``check_every``: steps per loss fetch (default :func:`check_interval` of the device).
    """
    started = time.perf_counter()
    log = _LossLog(math.inf)
    step = 0
    optimizer: torch.optim.Optimizer | None = None
    try:
        try:
            streams = runtime.streams(seed)
            model = runtime.model_for(seed, streams)
            bind_dropout_generator(model, streams.dropout)
            log.bound = bound = runtime.divergence_bound(model)
            model.train()
            optimizer = make_optimizer(model.parameters(), streams.optimizer)
            every = 1 if isinstance(optimizer, ALME) else check_every or check_interval(runtime.device)
            closure = _Closure(runtime, model, bound, immediate=every == 1)
            closure.optimizer = optimizer
            cursor = runtime.cursor(streams)
            for step in range(steps):
                closure.batch = runtime.batch(cursor, streams)
                closure.step, closure.calls = step, 0
                try:
                    optimizer.step(closure)
                except _Diverged:
                    log.values.append(closure.first)
                    raise
                if closure.calls == 0:
                    raise RuntimeError(f"{type(optimizer).__name__}.step did not call the closure")
                if every == 1:
                    log.values.append(closure.first)
                else:
                    log.pending.append(closure.first)
                    if len(log.pending) >= every:
                        log.flush()
            log.flush()
            score = runtime.evaluate(model)
        except _Diverged:
            raise
        except Exception:
            log.flush()  # a divergence the device ran past explains (and precedes) the error
            raise
    except _Diverged as diverged:
        outcome = MemberOutcome(
            "diverged",
            diverged.step,
            log.values[: diverged.step + 1],
            wall_time_s=time.perf_counter() - started,
        )
    except Exception as exc:
        outcome = MemberOutcome(
            "failed",
            step,
            log.values,
            error=one_line(exc, 500, typed=True),
            wall_time_s=time.perf_counter() - started,
        )
    else:
        outcome = MemberOutcome(
            "ok",
            steps,
            log.values,
            score.accuracy,
            dict(score.extra),
            wall_time_s=time.perf_counter() - started,
        )
    if isinstance(optimizer, ALME):
        stats = optimizer.get_stats()
        outcome.escape_steps = list(stats["escape_steps"])
        outcome.extra["escape_count"] = float(stats["escape_count"])
    return outcome
