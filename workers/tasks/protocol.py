"""The task protocol: what evo needs to score an optimizer on a user's model and data.

A job config names a task by import path, ``{import: "my_tasks:make_task", name: ...,
kwargs: {...}}``; ``make_task(**kwargs)`` returns an object with these attributes (any
class, a dataclass is simplest; nothing has to be imported from evo)::

    model()                    -> nn.Module      a fresh model (see "Initialisation")
    train                      (x, y) tensors, example on axis 0, or a batch source
    validation                 (x, y) tensors: the split the search selects on
    test                       (x, y) tensors: the split held-out scoring reads
    loss(outputs, targets)     -> Tensor [B]     per-example training loss
    score(outputs, targets)    -> float, or (float, {metric: float})
    direction                  "maximize" or "minimize" (the score's)
    batch_size                 int, examples per training step
    divergence_bound           float, a training loss above it (or NaN/inf) is a divergence

Training: each optimizer step draws ``batch_size`` examples of ``train`` (a fixed
permutation per seed, reshuffled each epoch) and minimises ``loss(model(x), y).mean()``.
A batch source is a callable ``source(generator, batch_size) -> (x, y)`` that draws a fresh
batch from the given ``torch.Generator`` (the member's data stream, on the evaluation
device), for data made on the fly.

Scoring: after the last step, ``score(model(x_eval), y_eval)`` on the whole ``validation``
split (``test`` for held-out tasks and ``evaluation.selection_split: test``), evaluated in
chunks of 1024 examples with the model in ``eval()`` mode and no gradient. The score enters
the fitness as a bounded "accuracy" ``a`` (:mod:`workers.fitness`: ``a + 0.05 max(0, 1 -
mean of the last 50 losses)``, -1 for a divergence): ``a = score`` with ``direction:
maximize`` (a score in [0, 1], e.g. accuracy or a clipped R^2), ``a = 1 / (1 + score)``
with ``direction: minimize`` (a non-negative error, e.g. a test MSE; the raw score is kept
as the metric ``score``). A non-finite score counts as ``a = 0``.

Initialisation: each (task, seed) member gets its own weights. ``model()`` is called with
PyTorch's global RNG seeded from the member's init stream (saved and restored around the
call), so PyTorch's default initialisation is reproducible; a model that defines
``reset_from_generator(generator)`` initialises itself from that ``torch.Generator``
instead (the built-in families do).

Training paths: models without buffers, batch statistics or dropout train P members at once
under ``torch.func.vmap`` (the population path); others one at a time (the sequential
path). evo picks when the config loads and says which in ``evo run``'s output. Anything
random inside ``model.forward`` or ``loss`` should be avoided: scores are cached as a pure
function of (optimizer, task, seed, budget).

The built-in ``diabetes_mlp`` and ``friedman_mlp`` tasks (:mod:`workers.families.tabular`)
are written with this protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch
    from torch import nn

    Tensor = torch.Tensor
    TensorPair = tuple[Tensor, Tensor]
    BatchSource = Callable[[torch.Generator, int], TensorPair]

Direction = Literal["maximize", "minimize"]
DIRECTIONS: tuple[str, ...] = ("maximize", "minimize")

REQUIRED_ATTRIBUTES: tuple[str, ...] = (
    "model", "train", "validation", "test", "loss", "score", "direction", "batch_size", "divergence_bound",
)  # fmt: skip
"""What :func:`workers.tasks.task_check.check_task` looks for on a factory's result."""


@runtime_checkable
class Task(Protocol):
    """A user's task (see the module docstring for each attribute's meaning)."""

    train: TensorPair | BatchSource
    validation: TensorPair
    test: TensorPair
    direction: Direction
    batch_size: int
    divergence_bound: float

    def model(self) -> nn.Module:
        """A fresh, untrained model (its weights are set per member, see the module docstring)."""
        ...

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        """Per-example training losses ``[B]`` of a batch (their mean is minimised)."""
        ...

    def score(self, outputs: Tensor, targets: Tensor) -> float | tuple[float, Mapping[str, float]]:
        """The score of the model's outputs on a whole evaluation split, optionally with metrics."""
        ...
