"""What every task family shares: a supervised runtime over in-memory tensors, the
population forward by ``torch.func.vmap`` and an initialiser for the families' layers.

A family provides a :class:`SupervisedData` (training inputs/targets, evaluation
inputs/targets, tensors of any shape with the example on axis 0) and three functions:

* ``loss(outputs, targets) -> [B]`` per-example training losses (the batch loss is their mean);
* ``score(outputs, targets) -> Score`` the bounded selection score of a whole evaluation
  split (the "accuracy" of :mod:`workers.fitness`, in [0, 1]) and its metrics;
* the model factory (any ``nn.Module`` built from standard ops).

Population path: ``params[name]`` of shape ``[P, *shape]`` are the members' parameters
stacked; ``vmap(functional_call(model, params_i, x_i))`` runs the same ``nn.Module`` for
every member, so member i's outputs and gradients depend only on its own parameters and
inputs (``torch.func`` has batching rules for the matmul, GRU-cell and attention ops the
families use; none has dropout, batch statistics or in-place buffer updates). Batches are
drawn by :class:`~workers.batches.BatchCursor` from each member's ``data`` stream in both
paths, so the paths agree to float rounding.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.func import functional_call, vmap

from workers.batches import BatchCursor
from workers.fitness import DIVERGENCE_LOSS
from workers.seeding import MemberStreams, stream_seed
from workers.tasks.models import build_model
from workers.tasks.runtime import Score

Tensor = torch.Tensor
Batch = tuple[Tensor, Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]
ScoreFn = Callable[[Tensor, Tensor], Score]

EVAL_CHUNK = 1024
"""Evaluation examples per forward."""


@dataclass(frozen=True)
class SupervisedData:
    """Tensors on the worker's device; ``x_eval``/``y_eval`` are the selection split."""

    x_train: Tensor
    y_train: Tensor
    x_eval: Tensor
    y_eval: Tensor

    def to(self, device: torch.device) -> SupervisedData:
        return SupervisedData(*(t.to(device) for t in (self.x_train, self.y_train, self.x_eval, self.y_eval)))


def init_layers(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """PyTorch's default initialisation of every layer, drawn from ``generator`` only.

    Linear/Conv/ConvTranspose: W ~ Kaiming-uniform(a = sqrt(5)), b ~ U(+-1/sqrt(fan_in));
    Embedding: N(0, 1); LayerNorm: weight 1, bias 0. Modules in ``model.modules()`` order,
    weight then bias.
    """
    for module in model.modules():
        if isinstance(module, nn.Linear | nn.modules.conv._ConvNd):
            nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
            if module.bias is not None:
                fan_in, _ = nn.init._calculate_fan_in_and_fan_out(module.weight)
                bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                with torch.no_grad():
                    module.bias.uniform_(-bound, bound, generator=generator)
        elif isinstance(module, nn.Embedding):
            with torch.no_grad():
                module.weight.normal_(0.0, 1.0, generator=generator)
        elif isinstance(module, nn.LayerNorm):
            module.reset_parameters()
    return model


class FamilyModel(nn.Module):
    """Base of the families' models: :func:`~workers.tasks.models.build_model` calls
    ``reset_from_generator`` instead of its own initialiser."""

    def reset_from_generator(self, generator: torch.Generator) -> None:
        init_layers(self, generator)


def vmap_forward(
    model: nn.Module, params: dict[str, Tensor], buffers: dict[str, Tensor], x: Tensor
) -> Tensor:
    """``model`` for every member: ``x [P, B, ...]`` -> ``[P, B, ...]``."""

    def one(p: dict[str, Tensor], b: dict[str, Tensor], xi: Tensor) -> Tensor:
        return functional_call(model, (p, b), (xi,))

    return vmap(one, in_dims=(0, 0, 0))(params, buffers, x)


class SupervisedRuntime:
    """Mini-batch training of ``loss`` on ``data``; ``score`` on the evaluation split."""

    def __init__(
        self,
        task: str,
        model_factory: Callable[[], nn.Module],
        data: SupervisedData,
        batch_size: int,
        loss: LossFn,
        score: ScoreFn,
        device: torch.device,
        bound: float = DIVERGENCE_LOSS,
    ) -> None:
        self.task, self.model_factory, self.data = task, model_factory, data
        self.batch_size, self._loss, self._score, self.device = batch_size, loss, score, device
        self.bound = bound

    # -- one member ----------------------------------------------------------------------
    def streams(self, seed: int) -> MemberStreams:
        return MemberStreams.create(self.task, seed, self.device)

    def model_for(self, seed: int, streams: MemberStreams) -> nn.Module:
        return build_model(self.model_factory, streams.init, self.device)

    def divergence_bound(self, model: nn.Module) -> float:
        return self.bound

    def cursor(self, streams: MemberStreams) -> BatchCursor:
        return BatchCursor(self.data.x_train.shape[0], self.batch_size, streams.data, self.device)

    def batch(self, cursor: BatchCursor, streams: MemberStreams) -> Batch:
        idx = cursor.next_indices()
        return self.data.x_train[idx], self.data.y_train[idx]

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        x, y = batch
        return self._loss(model(x), y).mean()

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> Score:
        model.eval()
        x = self.data.x_eval
        outputs = torch.cat([model(x[i : i + EVAL_CHUNK]) for i in range(0, x.shape[0], EVAL_CHUNK)])
        return self._score(outputs, self.data.y_eval)

    # -- a population --------------------------------------------------------------------
    def population_batch(self, cursors: list[BatchCursor], streams: list[MemberStreams]) -> Batch:
        idx = torch.stack([c.next_indices() for c in cursors])  # [P, B]
        return self.data.x_train[idx], self.data.y_train[idx]

    def population_loss(
        self,
        model: nn.Module,
        params: dict[str, Tensor],
        buffers: dict[str, Tensor],
        batch: Batch,
        generators: list[torch.Generator],
    ) -> Tensor:
        """Per-member mean loss [P]."""
        x, y = batch
        outputs = vmap_forward(model, params, buffers, x)  # [P, B, ...]
        per_example = vmap(self._loss)(outputs, y)  # [P, B]
        return per_example.mean(1)

    @torch.no_grad()
    def population_evaluate(
        self, model: nn.Module, params: dict[str, Tensor], buffers: dict[str, Tensor], chunk_size: int
    ) -> list[Score]:
        """Every member's score, each computed exactly as :meth:`evaluate` computes it."""
        members = next(iter(params.values())).shape[0]
        x = self.data.x_eval
        scores = []
        for i in range(members):
            state = {k: v[i] for k, v in params.items()} | {k: v[i] for k, v in buffers.items()}
            outputs = torch.cat(
                [
                    functional_call(model, state, (x[j : j + EVAL_CHUNK],))
                    for j in range(0, x.shape[0], EVAL_CHUNK)
                ]
            )
            scores.append(self._score(outputs, self.data.y_eval))
        return scores


Split = Literal["val", "test"]


@dataclass(frozen=True, kw_only=True)
class FamilySpec:
    """One registered variant of a family (wrapped into a ``Task`` by :mod:`workers.tasks.registry`).

    Attributes:
        data: ``split -> SupervisedData`` on the CPU, deterministic (fixed seeds).
        loss: per-example training loss; score: bounded score of the evaluation split.
        bound: a training loss above it (or NaN/inf) is a divergence.
        population_on_cpu: the vmap population path beats a plain loop on a CPU.
    """

    name: str
    kind: str
    description: str
    model_factory: Callable[[], nn.Module]
    data: Callable[[Split], SupervisedData]
    loss: LossFn
    score: ScoreFn
    batch_size: int
    population_on_cpu: bool
    bound: float = DIVERGENCE_LOSS


_CACHE: dict[tuple[str, str, str], SupervisedData] = {}
_CACHE_LOCK = threading.Lock()


def family_runtime(spec: FamilySpec, split: Split, device: torch.device) -> SupervisedRuntime:
    """The spec's runtime; its data are built once per process, split and device."""
    key = (spec.name, split, str(device))
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = spec.data(split).to(device)
        data = _CACHE[key]
    return SupervisedRuntime(
        spec.name, spec.model_factory, data, spec.batch_size, spec.loss, spec.score, device,
        spec.bound,
    )  # fmt: skip


def split_pool(n: int, name: str, eval_fraction: float = 0.2) -> tuple[Tensor, Tensor, Tensor]:
    """A fixed permutation of ``n`` examples cut into (train, val, test) index tensors:
    ``test`` the first ``eval_fraction`` of them, ``val`` the next ``eval_fraction`` of the rest."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(stream_seed(name, 0, "split")))
    n_test = int(n * eval_fraction)
    n_val = int((n - n_test) * eval_fraction)
    return order[n_test + n_val :], order[n_test : n_test + n_val], order[:n_test]


def explained_fraction(mse: float, baseline_mse: float) -> float:
    """Bounded regression score ``max(0, 1 - mse / baseline_mse)`` (R^2 clipped at 0; 0 for
    a non-finite mse); ``baseline_mse`` is the error of predicting the training mean."""
    if not math.isfinite(mse):
        return 0.0
    return max(0.0, 1.0 - mse / baseline_mse)
