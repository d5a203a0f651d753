"""A classification task ready to train on one device: data, model, loss, accuracy.

It implements :class:`workers.tasks.runtime.Runtime`: per-member methods for the sequential path
and stacked ones (``population_*``) for the population path.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from workers.batches import BatchCursor, StackedCursors, flip_and_crop
from workers.fitness import DIVERGENCE_LOSS
from workers.population.stacked_forward import PopulationContext, chunk, init_stacked, population_forward
from workers.population.stacked_mlp import StackedMLP, supports
from workers.seeding import MemberStreams
from workers.tasks.datasets import ClassificationData
from workers.tasks.models import build_model
from workers.tasks.runtime import Score

Tensor = torch.Tensor
Batch = tuple[Tensor, Tensor]

EVAL_BATCH = 1000
"""Examples per forward when scoring one model."""
POPULATION_EVAL_BUDGET = {"cpu": 1000, "cuda": 16384}
EPOCH_GATHER_BYTES = 64 << 20
"""A population's epoch of inputs is gathered at once up to this size (the MLP tasks' small
data: digits 16 members x 1151 x 64 floats = 4.7 MB), else batch by batch."""
"""Member-examples per population forward when scoring, by device type."""


class ClassificationRuntime:
    """Cross-entropy training on mini-batches; accuracy on the selection split (a :class:`Runtime`)."""

    def __init__(
        self,
        task: str,
        model_factory: Callable[[], nn.Module],
        data: ClassificationData,
        batch_size: int,
        augment: bool,
        device: torch.device,
    ) -> None:
        self.task, self.model_factory, self.data = task, model_factory, data
        self.batch_size, self.augment, self.device = batch_size, augment, device

    # -- one member ----------------------------------------------------------------------
    def streams(self, seed: int) -> MemberStreams:
        return MemberStreams.create(self.task, seed, self.device)

    def model_for(self, seed: int, streams: MemberStreams) -> nn.Module:
        """A fresh model initialised from the member's ``init`` stream."""
        return build_model(self.model_factory, streams.init, self.device)

    def divergence_bound(self, model: nn.Module) -> float:
        return DIVERGENCE_LOSS

    def cursor(self, streams: MemberStreams) -> BatchCursor:
        return BatchCursor(self.data.x_train.shape[0], self.batch_size, streams.data, self.device)

    def batch(self, cursor: BatchCursor, streams: MemberStreams) -> Batch:
        """The member's next training batch (augmented for CIFAR-10)."""
        idx = cursor.next_indices()
        x = self.data.x_train[idx]
        if self.augment:
            x = flip_and_crop(x, self.data.pad_value, streams.augment)
        return x, self.data.y_train[idx]

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        x, y = batch
        return F.cross_entropy(model(x), y)

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> Score:
        """Accuracy on the selection split in eval mode."""
        model.eval()
        correct = torch.zeros((), dtype=torch.int64, device=self.device)  # one host read at the end
        for start in range(0, self.data.x_eval.shape[0], EVAL_BATCH):
            logits = model(self.data.x_eval[start : start + EVAL_BATCH])
            correct += (logits.argmax(-1) == self.data.y_eval[start : start + EVAL_BATCH]).sum()
        return Score(int(correct) / self.data.y_eval.shape[0])

    # -- a population --------------------------------------------------------------------
    def population_start(
        self, seeds: list[int], streams: list[MemberStreams]
    ) -> tuple[nn.Module, dict[str, Tensor], dict[str, Tensor], Tensor]:
        """The members' architecture (a model on the device, train mode), stacked initial
        parameters and buffers (those of :meth:`model_for` for each member, bit for bit) and
        divergence bounds [P]: one model re-initialised per member instead of P models built."""
        skeleton = build_model(self.model_factory, torch.Generator(), "cpu")  # draws from no member
        params, buffers = init_stacked(skeleton, [s.init for s in streams], self.device)
        bounds = torch.full((len(seeds),), DIVERGENCE_LOSS, device=self.device)
        return skeleton.to(self.device).train(), params, buffers, bounds

    def population_trainer(self, model: nn.Module, params: dict[str, Tensor]) -> StackedMLP | None:
        """The hand-written forward/backward of :mod:`workers.population.stacked_mlp` for plain MLPs on a
        CPU (the same numbers as :meth:`population_loss` and autograd, in reused buffers);
        None elsewhere (autograd; a GPU's caching allocator has no page faults to save)."""
        if self.device.type != "cpu" or not supports(model):
            return None
        return StackedMLP(model, params)

    def population_cursors(self, streams: list[MemberStreams]) -> StackedCursors:
        """The members' cursors advanced together (one slice per step, same indices)."""
        return StackedCursors([self.cursor(s) for s in streams])

    def _epoch_batches(self, cursors: StackedCursors) -> tuple[Tensor, Tensor] | None:
        """The members' whole epoch ``x_train[orders]``, ``y_train[orders]`` gathered once per
        epoch (one gather instead of one per step; each step's batch is a slice of it, the same
        values); None for augmented data, cursors out of step, or epochs above
        ``EPOCH_GATHER_BYTES``. A new epoch is gathered into the last epoch's tensors (whose
        batches are used up by then): fresh multi-MB tensors cost page faults, on a CPU as
        much as the gather itself."""
        orders = cursors.orders
        if self.augment or cursors.span is None or orders is None:
            return None
        row_bytes = self.data.x_train[0].numel() * self.data.x_train.element_size()
        if orders.numel() * row_bytes > EPOCH_GATHER_BYTES:
            return None
        cached = cursors.epoch_batches
        if cached is None or cached[0] is not orders:
            rows = orders.reshape(-1)  # index_select copies whole rows: ~7x advanced indexing on a CPU
            x_train, y_train = self.data.x_train, self.data.y_train
            last = None if cached is None or cached[0].shape != orders.shape else cached[1]
            x_out = None if last is None else last[0].view(-1, *x_train.shape[1:])
            x = torch.index_select(x_train, 0, rows, out=x_out).view(*orders.shape, *x_train.shape[1:])
            y = torch.index_select(y_train, 0, rows, out=None if last is None else last[1].view(-1))
            cursors.epoch_batches = (orders, (x, y.view(orders.shape)))
        return cursors.epoch_batches[1]  # type: ignore[return-value]

    def population_batch(
        self, cursors: list[BatchCursor] | StackedCursors, streams: list[MemberStreams]
    ) -> Batch:
        """Every member's next batch: x [P, B, ...], y [P, B]."""
        if isinstance(cursors, StackedCursors):
            idx = cursors.next_indices()  # [P, B]
            epoch = self._epoch_batches(cursors)
            if epoch is not None:
                (lo, hi), (x_epoch, y_epoch) = cursors.span, epoch
                return x_epoch[:, lo:hi], y_epoch[:, lo:hi]
        else:
            idx = torch.stack([c.next_indices() for c in cursors])
        x = self.data.x_train[idx]  # [P, B, ...]
        if self.augment:
            x = torch.stack(
                [flip_and_crop(x[i], self.data.pad_value, s.augment) for i, s in enumerate(streams)]
            )
        return x, self.data.y_train[idx]

    def population_loss(
        self,
        model: nn.Module,
        params: dict[str, Tensor],
        buffers: dict[str, Tensor],
        batch: Batch,
        generators: list[torch.Generator],
    ) -> Tensor:
        """Per-member mean cross-entropy [P] (train mode)."""
        x, y = batch
        logits = population_forward(
            model, params, buffers, x, PopulationContext(True, generators)
        )  # [P, B, K]
        per_example = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
        return per_example.view(y.shape).mean(1)

    @torch.no_grad()
    def population_evaluate(
        self, model: nn.Module, params: dict[str, Tensor], buffers: dict[str, Tensor], chunk_size: int
    ) -> list[Score]:
        """Every member's accuracy on the selection split (eval mode)."""
        members = next(iter(params.values())).shape[0]
        correct = torch.zeros(members, dtype=torch.int64, device=self.device)
        ctx = PopulationContext(training=False)
        for lo in range(0, members, chunk_size):
            hi = min(members, lo + chunk_size)
            step = max(1, POPULATION_EVAL_BUDGET.get(self.device.type, EVAL_BATCH) // (hi - lo))
            p, b = chunk(params, lo, hi), chunk(buffers, lo, hi)
            for start in range(0, self.data.x_eval.shape[0], step):
                x = self.data.x_eval[start : start + step]
                logits = population_forward(model, p, b, x.expand(hi - lo, *x.shape), ctx)  # [c, B, K]
                correct[lo:hi] += (logits.argmax(-1) == self.data.y_eval[start : start + step]).sum(1)
        total = self.data.y_eval.shape[0]
        return [Score(int(c) / total) for c in correct.tolist()]
