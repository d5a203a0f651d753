"""The config-load check of a protocol task: its attributes, and one trial training step.

:func:`check_task` inspects what a factory returned (:mod:`workers.tasks.protocol`):

1. every attribute is there, with a usable value (direction, batch size, divergence bound,
   (x, y) pairs of equal length, a callable batch source);
2. one trial step on a small batch (``min(batch_size, 4)`` training examples): a fresh
   model, ``loss`` of shape ``[B]`` and finite, a backward pass that reaches a parameter;
3. ``score`` on a few validation examples: a finite-or-not number (with metrics), in
   [0, 1] when the direction is ``maximize``;
4. the training path: the population path needs a model without buffers, batch statistics
   or dropout whose forward and loss run under ``torch.func.vmap`` on two stacked copies
   of its parameters (tried on the trial batch); otherwise the sequential path.

Failures raise ``ValueError`` with one line saying what is wrong and how to fix it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import stack_module_state, vmap

from optimizers.errors import one_line
from workers.families.common import vmap_forward
from workers.tasks.protocol import DIRECTIONS, REQUIRED_ATTRIBUTES, Task
from workers.tasks.protocol_runtime import NotAModuleError, bounded_score, build_task_model, split_score

TRIAL_EXAMPLES = 4
TRIAL_EVAL_EXAMPLES = 16
DOCS = "see docs/custom-tasks.md"


@dataclass(frozen=True)
class TaskCheck:
    """What the check found: the training path and why."""

    path: str
    reason: str

    @property
    def population(self) -> bool:
        return self.path == "population"


def check_task(task: Any) -> TaskCheck:
    """Check ``task`` (see the module docstring); ValueError with one line otherwise."""
    missing = [a for a in REQUIRED_ATTRIBUTES if not hasattr(task, a)]
    if missing:
        raise ValueError(
            f"the factory returned a {type(task).__name__} without {', '.join(missing)} ({DOCS})"
        )
    _check_values(task)
    model = _trial_model(task)
    x, y = _trial_batch(task)
    _trial_step(task, model, x, y)
    _trial_score(task, model)
    return _choose_path(task, model, x, y)


def _check_values(task: Task) -> None:
    if task.direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'maximize' or 'minimize', got {task.direction!r}")
    if isinstance(task.batch_size, bool) or not isinstance(task.batch_size, int) or task.batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {task.batch_size!r}")
    bound = task.divergence_bound
    if isinstance(bound, bool) or not isinstance(bound, int | float) or not bound > 0:
        raise ValueError(
            f"divergence_bound must be a number > 0 (a loss above it is a divergence), got {bound!r}"
        )
    for split in ("validation", "test") + (() if callable(task.train) else ("train",)):
        _check_pair(split, getattr(task, split))
    for method in ("model", "loss", "score"):
        if not callable(getattr(task, method)):
            raise ValueError(f"{method} must be callable ({DOCS})")


def _check_pair(split: str, pair: Any) -> None:
    if not (
        isinstance(pair, tuple | list) and len(pair) == 2 and all(isinstance(t, torch.Tensor) for t in pair)
    ):
        what = "or a batch source (generator, batch_size) -> (x, y)" if split == "train" else ""
        raise ValueError(f"{split} must be an (inputs, targets) pair of tensors {what}".rstrip())
    x, y = pair
    if x.ndim == 0 or y.ndim == 0 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(
            f"{split}: inputs and targets need the same number (>= 1) of examples on axis 0, "
            f"got shapes {tuple(x.shape)} and {tuple(y.shape)}"
        )


def _trial_model(task: Task) -> nn.Module:
    generator = torch.Generator().manual_seed(0)
    try:
        model = build_task_model(task.model, generator, torch.device("cpu"))
    except NotAModuleError as exc:
        raise ValueError(str(exc)) from None
    except Exception as exc:  # the user's model code, whatever it raises
        raise ValueError(f"model() failed: {one_line(exc, 200, typed=True)}") from None
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("model() returned a module without trainable parameters")
    return model


def _trial_batch(task: Task) -> tuple[torch.Tensor, torch.Tensor]:
    n = min(task.batch_size, TRIAL_EXAMPLES)
    if not callable(task.train):
        x, y = task.train
        return x[:n], y[:n]
    try:
        pair = task.train(torch.Generator().manual_seed(0), n)
    except Exception as exc:
        raise ValueError(
            f"the batch source train(generator, {n}) failed: {one_line(exc, 200, typed=True)}"
        ) from None
    _check_pair("the batch source's result", pair)
    return pair[0], pair[1]


def _trial_step(task: Task, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    model.train()
    try:
        losses = task.loss(model(x), y)
    except Exception as exc:
        raise ValueError(
            f"forward or loss failed on {x.shape[0]} training examples: {one_line(exc, 200, typed=True)}"
        ) from None
    if not isinstance(losses, torch.Tensor) or tuple(losses.shape) != (x.shape[0],):
        shape = tuple(losses.shape) if isinstance(losses, torch.Tensor) else type(losses).__name__
        raise ValueError(f"loss must return one loss per example, shape ({x.shape[0]},), got {shape}")
    if not losses.requires_grad:
        raise ValueError("the loss does not depend on the model's parameters (no gradient reaches them)")
    if not torch.isfinite(losses).all():
        raise ValueError("loss of the freshly initialised model is not finite on the first training examples")
    try:
        losses.mean().backward()
    except Exception as exc:
        raise ValueError(f"backward failed: {one_line(exc, 200, typed=True)}") from None
    if all(p.grad is None for p in model.parameters()):
        raise ValueError("the loss does not depend on the model's parameters (no gradient reaches them)")
    model.zero_grad(set_to_none=True)


def _trial_score(task: Task, model: nn.Module) -> None:
    x, y = task.validation
    model.eval()
    try:
        with torch.no_grad():
            value, metrics = split_score(task.score(model(x[:TRIAL_EVAL_EXAMPLES]), y[:TRIAL_EVAL_EXAMPLES]))
    except Exception as exc:
        raise ValueError(
            "score failed (it must return a number or (number, {name: number})): "
            + one_line(exc, 200, typed=True)
        ) from None
    if task.direction == "maximize" and math.isfinite(value) and not 0.0 <= value <= 1.0:
        raise ValueError(
            f"a score to maximize must lie in [0, 1] (an accuracy, a clipped R^2), got {value:g}; "
            "return an error with direction 'minimize' instead"
        )
    bounded_score(value, metrics, task.direction)


def _choose_path(task: Task, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> TaskCheck:
    blockers = sorted(
        {
            type(m).__name__
            for m in model.modules()
            if isinstance(m, nn.modules.batchnorm._NormBase | nn.Dropout)
        }
    )
    if blockers:
        return TaskCheck("sequential", f"the model has {', '.join(blockers)}")
    if any(True for _ in model.buffers()):
        return TaskCheck("sequential", "the model has buffers")
    try:
        params, buffers = stack_module_state([model, model])
        outputs = vmap_forward(model, params, buffers, torch.stack([x, x]))
        vmap(task.loss)(outputs, torch.stack([y, y]))
    except Exception as exc:  # whatever torch.func cannot batch
        return TaskCheck("sequential", f"torch.func.vmap cannot run it ({one_line(exc, 120, typed=True)})")
    return TaskCheck("population", "torch.func.vmap over stacked parameters")
