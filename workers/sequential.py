"""The sequential path: one model at a time, any ``torch.optim.Optimizer``.

Per step: draw the member's batch, then ``optimizer.step(closure)`` where the closure
zeroes the gradients, computes the batch loss, checks divergence *before* the backward pass
(as the seed: a loss that is NaN/inf or above the task's bound stops the member; only the
first call of a step is judged), runs the backward pass and returns the loss. Stochastic
optimizers get the member's own ``optimizer`` RNG stream, so scores depend only on the seed.
An exception in training marks the member failed with
its error text (the seed counted a RuntimeError in the step as a divergence; both score -1).
An :class:`~optimizers.alme.ALME` member also reports its escapes (``get_stats()``): the
steps in ``escape_steps`` and their number in ``extra["escape_count"]``, whatever its status.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

import torch

from optimizers.alme import ALME
from optimizers.errors import one_line
from workers.models import bind_dropout_generator
from workers.outcome import MemberOutcome
from workers.runtime import Runtime

OptimizerFactory = Callable[[Iterable[torch.nn.Parameter], torch.Generator], torch.optim.Optimizer]
"""(parameters, the member's optimizer RNG stream) -> optimizer."""


class _Diverged(Exception):
    """Raised inside the closure to stop a member whose loss left the healthy range."""


def train_sequential(
    runtime: Runtime, make_optimizer: OptimizerFactory, seed: int, steps: int
) -> MemberOutcome:
    """Train one member for ``steps`` optimizer steps and score it."""
    started = time.perf_counter()
    losses: list[float] = []
    step = 0
    optimizer: torch.optim.Optimizer | None = None
    try:
        streams = runtime.streams(seed)
        model = runtime.model_for(seed, streams)
        bind_dropout_generator(model, streams.dropout)
        bound = runtime.divergence_bound(model)
        model.train()
        optimizer = make_optimizer(model.parameters(), streams.optimizer)
        cursor = runtime.cursor(streams)
        for step in range(steps):  # noqa: B007 (step is read after the loop)
            batch = runtime.batch(cursor, streams)
            step_losses: list[float] = []

            def closure(batch=batch, step_losses=step_losses) -> torch.Tensor:
                optimizer.zero_grad(set_to_none=True)
                loss = runtime.loss(model, batch)
                value = float(loss.detach())
                step_losses.append(value)
                # Only the step's own loss judges divergence: optimizers that call the
                # closure again (ALME scoring escape candidates) may meet bad points and
                # discard them themselves.
                if len(step_losses) == 1 and not (math.isfinite(value) and value <= bound):
                    raise _Diverged
                loss.backward()
                return loss

            optimizer.step(closure)
            if not step_losses:
                raise RuntimeError(f"{type(optimizer).__name__}.step did not call the closure")
            losses.append(step_losses[0])
        score = runtime.evaluate(model)
    except _Diverged:
        losses.append(step_losses[-1])
        outcome = MemberOutcome("diverged", step, losses, wall_time_s=time.perf_counter() - started)
    except Exception as exc:
        outcome = MemberOutcome(
            "failed",
            step,
            losses,
            error=one_line(exc, 500, typed=True),
            wall_time_s=time.perf_counter() - started,
        )
    else:
        outcome = MemberOutcome(
            "ok", steps, losses, score.accuracy, dict(score.extra), wall_time_s=time.perf_counter() - started
        )
    if isinstance(optimizer, ALME):
        stats = optimizer.get_stats()
        outcome.escape_steps = list(stats["escape_steps"])
        outcome.extra["escape_count"] = float(stats["escape_count"])
    return outcome
