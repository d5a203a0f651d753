"""A :class:`~workers.tasks.protocol.Task` made ready to train: the runtime both loops use.

:class:`ProtocolRuntime` is the families' :class:`~workers.families.common.SupervisedRuntime`
(mini-batches of ``train`` by index, ``loss(...).mean()``, the population forward by
``torch.func.vmap``) fed from the protocol's attributes, plus what the protocol adds:

* a batch source instead of training tensors: member i's batch is
  ``source(streams_i.data, batch_size)`` in both paths (stacked on a member axis for the
  population);
* the score's direction: the bounded "accuracy" is ``score`` (maximize) or
  ``1 / (1 + score)`` (minimize; the raw score is the metric ``score``), 0 when not finite;
* the model built by :func:`build_task_model` (PyTorch's default initialisation under the
  member's seed, or the model's own ``reset_from_generator``).

Runtimes are cached per process by (task name, split, device): a task's data is loaded and
moved to a device once (:func:`protocol_runtime`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from workers.families.common import SupervisedData, SupervisedRuntime
from workers.seeding import MemberStreams
from workers.tasks.protocol import Task
from workers.tasks.runtime import Score

Tensor = torch.Tensor
_RNG_LOCK = threading.Lock()
_CACHE: dict[tuple[str, str, str], ProtocolRuntime] = {}
_CACHE_LOCK = threading.Lock()


class NotAModuleError(TypeError):
    """A task's ``model()`` returned something that is not an ``nn.Module``."""


def build_task_model(
    factory: Callable[[], nn.Module], generator: torch.Generator, device: torch.device
) -> nn.Module:
    """``factory()`` with the global CPU RNG seeded by ``generator.initial_seed()`` (restored
    afterwards), then ``reset_from_generator(generator)`` if the model has it, on ``device``."""
    with _RNG_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(generator.initial_seed())
        model = factory()
    if not isinstance(model, nn.Module):
        raise NotAModuleError(f"model() must return a torch.nn.Module, got {type(model).__name__}")
    reset = getattr(model, "reset_from_generator", None)
    if reset is not None:
        reset(generator)
    return model.to(device)


def split_score(value: Any) -> tuple[float, dict[str, float]]:
    """``score``'s return value as (score, metrics)."""
    if isinstance(value, tuple):
        score, metrics = value
        return float(score), {str(k): float(v) for k, v in dict(metrics).items()}
    return float(value), {}


def bounded_score(value: float, metrics: Mapping[str, float], direction: str) -> Score:
    """The fitness' "accuracy" of a score (see the module docstring)."""
    if direction == "maximize":
        return Score(value if math.isfinite(value) else 0.0, dict(metrics))
    accuracy = 1.0 / (1.0 + max(value, 0.0)) if math.isfinite(value) else 0.0
    return Score(accuracy, {"score": value, **metrics})


class ProtocolRuntime(SupervisedRuntime):
    """The runtime of one protocol task on one split and device (see the module docstring)."""

    def __init__(self, name: str, task: Task, split: str, device: torch.device) -> None:
        x_eval, y_eval = task.validation if split == "val" else task.test
        self.source = None if isinstance(task.train, tuple | list) else task.train
        x_train, y_train = (torch.empty(0), torch.empty(0)) if self.source is not None else task.train
        direction = task.direction

        def score(outputs: Tensor, targets: Tensor) -> Score:
            return bounded_score(*split_score(task.score(outputs, targets)), direction)

        super().__init__(
            name, task.model, SupervisedData(x_train, y_train, x_eval, y_eval).to(device),
            int(task.batch_size), task.loss, score, device, float(task.divergence_bound),
        )  # fmt: skip

    def model_for(self, seed: int, streams: MemberStreams) -> nn.Module:
        return build_task_model(self.model_factory, streams.init, self.device)

    def cursor(self, streams: MemberStreams) -> Any:
        return None if self.source is not None else super().cursor(streams)

    def batch(self, cursor: Any, streams: MemberStreams) -> tuple[Tensor, Tensor]:
        if self.source is None:
            return super().batch(cursor, streams)
        x, y = self.source(streams.data, self.batch_size)
        return x.to(self.device), y.to(self.device)

    def population_batch(self, cursors: list[Any], streams: list[MemberStreams]) -> tuple[Tensor, Tensor]:
        if self.source is None:
            return super().population_batch(cursors, streams)
        pairs = [self.batch(None, s) for s in streams]
        return torch.stack([x for x, _ in pairs]), torch.stack([y for _, y in pairs])


def protocol_runtime(
    name: str, load: Callable[[], Task], split: str, device: torch.device
) -> ProtocolRuntime:
    """The cached runtime of task ``name`` (``load()`` is called on the first use only)."""
    key = (name, split, str(device))
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = ProtocolRuntime(name, load(), split, device)
        return _CACHE[key]
