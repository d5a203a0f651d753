"""Sorting with a small causal transformer: ``sort_transformer`` (and variants).

Data: sequences of ``length`` tokens drawn uniformly from ``0..vocab-1`` (fixed generator),
followed by a separator token ``vocab`` and the same tokens sorted; the model reads the
sequence shifted by one and predicts the next token (teacher forcing). Only the ``length``
predictions of the sorted part count. 8192 training sequences, 1024 validation and 1024
test sequences, drawn independently.

Model (:class:`CausalTransformer`): token + learned position embeddings (``width``),
``layers`` pre-LayerNorm blocks of causal multi-head self-attention (``heads``) and a ReLU
MLP (4 x width), a final LayerNorm and a linear read-out; attention is written out
(``softmax(QK^T / sqrt(d_head) + causal mask) V``) so ``torch.func.vmap`` runs it.
Loss: cross-entropy of the sorted part (starts near ln(vocab + 1) ~ 3). Score: token
accuracy of the sorted part, in [0, 1]; ``sequence_accuracy`` (whole sequences right) is a
metric. Divergence: loss NaN/inf or above 50. Adam (lr 1e-3) reaches ~0.65 token
accuracy and ~1% whole sequences after 300 steps, far from saturation.

Parameters: ``length`` (8), ``vocab`` (20), ``width`` (24), ``layers`` (1), ``heads`` (2);
batch 32.
"""

from __future__ import annotations

import math
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from workers.families.common import FamilyModel, FamilySpec, Split, SupervisedData
from workers.families.text import token_accuracy
from workers.seeding import stream_seed
from workers.tasks.runtime import Score

Tensor = torch.Tensor
TRAIN_SEQUENCES, EVAL_SEQUENCES = 8192, 1024


class Block(nn.Module):
    """Pre-LayerNorm transformer block with causal self-attention."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.mlp_in, self.mlp_out = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

    def forward(self, h: Tensor) -> Tensor:
        b, t, w = h.shape
        q, k, v = self.qkv(self.norm1(h)).view(b, t, 3, self.heads, w // self.heads).unbind(2)
        q, k, v = (x.transpose(1, 2) for x in (q, k, v))  # [B, heads, T, d]
        scores = q @ k.transpose(-1, -2) / math.sqrt(w // self.heads)
        future = torch.ones(t, t, dtype=torch.bool, device=h.device).triu(1)
        attention = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
        h = h + self.proj((attention @ v).transpose(1, 2).reshape(b, t, w))
        return h + self.mlp_out(F.relu(self.mlp_in(self.norm2(h))))


class CausalTransformer(FamilyModel):
    """``x [B, T]`` int64 -> logits ``[B, T, vocab]``."""

    def __init__(self, vocab: int, context: int, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab, width)
        self.positions = nn.Embedding(context, width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab)

    def forward(self, x: Tensor) -> Tensor:
        h = self.tokens(x) + self.positions.weight[: x.shape[1]]
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h))


def _sequences(count: int, length: int, vocab: int, stream: str) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(stream_seed(f"sort{length}x{vocab}", 0, stream))
    tokens = torch.randint(0, vocab, (count, length), generator=generator)
    full = torch.cat([tokens, torch.full((count, 1), vocab), tokens.sort(-1).values], dim=1)
    return full[:, :-1].contiguous(), full[:, 1:].contiguous()


def sort_data(length: int, vocab: int, split: Split) -> SupervisedData:
    x_train, y_train = _sequences(TRAIN_SEQUENCES, length, vocab, "train")
    x_eval, y_eval = _sequences(EVAL_SEQUENCES, length, vocab, split)
    return SupervisedData(x_train, y_train, x_eval, y_eval)


def sorted_part_loss(length: int, logits: Tensor, targets: Tensor) -> Tensor:
    """Per-example cross-entropy of the last ``length`` predictions: [B]."""
    tail, goal = logits[:, -length:], targets[:, -length:]
    return F.cross_entropy(tail.transpose(1, 2), goal, reduction="none").mean(-1)


def sorted_part_accuracy(length: int, logits: Tensor, targets: Tensor) -> Score:
    return token_accuracy(logits[:, -length:], targets[:, -length:])


def sort_transformer(
    name: str = "sort_transformer", length: int = 8, vocab: int = 20, width: int = 24, layers: int = 1,
    heads: int = 2,
) -> FamilySpec:  # fmt: skip
    return FamilySpec(
        name=name, kind="sequence",
        description=(f"causal transformer ({layers} layers, width {width}) sorting {length} tokens "
                     f"of {vocab}"),
        model_factory=partial(CausalTransformer, vocab + 1, 2 * length, width, layers, heads),
        data=partial(sort_data, length, vocab), loss=partial(sorted_part_loss, length),
        score=partial(sorted_part_accuracy, length), batch_size=32, population_on_cpu=True,
    )  # fmt: skip
