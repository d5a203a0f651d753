"""The interface between a task and the two training loops: :class:`Runtime` and :class:`Score`.

A runtime is one task made ready to train on one device (data loaded, model factory bound).
The sequential loop (:mod:`workers.sequential`) uses the per-member methods, the population
loop (:mod:`workers.population.loop`) the ``population_*`` ones; both draw from the same member
streams (:class:`~workers.seeding.MemberStreams`) in the same shapes, which is why the two
paths agree. Implementations: :class:`~workers.tasks.classification_runtime.ClassificationRuntime`
(mini-batch cross-entropy, accuracy) and :class:`~workers.tasks.landscape_runtime.LandscapeRuntime`
(full-batch gap to an analytic function's minimum; its batches and cursors are ``None``)
and :class:`~workers.families.common.SupervisedRuntime` (the task families of
:mod:`workers.families`: any loss and bounded score, population path by ``torch.func.vmap``),
which :class:`~workers.tasks.protocol_runtime.ProtocolRuntime` extends for tasks written with
the public task protocol (users' tasks, the tabular family).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from workers.seeding import MemberStreams

Tensor = torch.Tensor


@dataclass(frozen=True)
class Score:
    """A member's selection score: accuracy (or landscape score) and task metrics."""

    accuracy: float
    extra: dict[str, float] = field(default_factory=dict)


class Runtime(Protocol):
    """What both training loops need from a task (``Cursor`` and ``Batch`` are the task's own)."""

    device: torch.device

    # -- one member (sequential path) -------------------------------------------------------
    def streams(self, seed: int) -> MemberStreams:
        """The member's RNG streams (init, data order, augmentation, dropout, optimizer)."""
        ...

    def model_for(self, seed: int, streams: MemberStreams) -> nn.Module:
        """The member's initialised model, on the runtime's device."""
        ...

    def divergence_bound(self, model: nn.Module) -> float:
        """The largest healthy training loss for this member (see :mod:`workers.fitness`)."""
        ...

    def cursor(self, streams: MemberStreams) -> Any:
        """The member's position in its data order (None for full-batch tasks)."""
        ...

    def batch(self, cursor: Any, streams: MemberStreams) -> Any:
        """The member's next training batch (advances ``cursor``)."""
        ...

    def loss(self, model: nn.Module, batch: Any) -> Tensor:
        """The scalar training loss of ``model`` on ``batch`` (train mode)."""
        ...

    def evaluate(self, model: nn.Module) -> Score:
        """The member's selection score (eval mode)."""
        ...

    # -- P members on stacked parameters (population path) ----------------------------------
    def population_batch(self, cursors: list[Any], streams: list[MemberStreams]) -> Any:
        """Every member's next batch, stacked on a leading member axis."""
        ...

    def population_loss(
        self,
        model: nn.Module,
        params: dict[str, Tensor],
        buffers: dict[str, Tensor],
        batch: Any,
        generators: list[torch.Generator],
    ) -> Tensor:
        """Per-member training losses [P] of the stacked parameters (``generators``: dropout)."""
        ...

    def population_evaluate(
        self, model: nn.Module, params: dict[str, Tensor], buffers: dict[str, Tensor], chunk_size: int
    ) -> list[Score]:
        """Every member's selection score, ``chunk_size`` members per forward."""
        ...
