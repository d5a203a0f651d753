"""Character-level language modelling with a GRU: ``char_gru`` (and variants).

Corpus: ``corpus.txt`` next to this file (5.3 KB, public domain: the Gettysburg Address,
the opening of the Declaration of Independence and Shakespeare's sonnets 18, 29, 116 and
130), lower-cased; the vocabulary is its sorted set of characters (~40). The text is cut
into three contiguous parts, 80% training, 10% validation, 10% test, so that no evaluation
window overlaps a training one. Training examples are all windows of ``seq_len + 1``
characters of the training part (stride 1); evaluation windows do not overlap (stride
``seq_len``).

Model (:class:`CharGRU`): embedding (16) -> one GRU layer (``hidden``) written with two
``Linear`` maps (PyTorch's GRU equations:
``r = s(W_ir x + W_hr h)``, ``z = s(W_iz x + W_hz h)``, ``n = tanh(W_in x + r * (W_hn h))``,
``h' = (1 - z) n + z h``, biases in both maps) -> ``Linear(hidden, vocab)`` at every step.
Loss: next-character cross-entropy averaged over the window (starts near ln(vocab) ~ 3.7).
Score: next-character accuracy on the evaluation windows, in [0, 1]. Divergence: the loss
is NaN/inf or above 50 (the classification rule; cross-entropy 50 is far from anything a
healthy run reaches).

Parameters: ``hidden`` (default 64), ``seq_len`` (default 12), batch 32.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from workers.families.common import FamilyModel, FamilySpec, Split, SupervisedData
from workers.tasks.runtime import Score

Tensor = torch.Tensor
CORPUS = Path(__file__).with_name("corpus.txt")
EMBED = 16


def corpus() -> tuple[str, list[str]]:
    """The lower-cased corpus text and its sorted vocabulary."""
    text = " ".join(CORPUS.read_text(encoding="utf-8").lower().split())
    return text, sorted(set(text))


class CharGRU(FamilyModel):
    """Embedding -> GRU -> per-step logits; ``x [B, T]`` int64 -> ``[B, T, vocab]``."""

    def __init__(self, vocab: int, hidden: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, EMBED)
        self.input_map = nn.Linear(EMBED, 3 * hidden)
        self.hidden_map = nn.Linear(hidden, 3 * hidden)
        self.head = nn.Linear(hidden, vocab)
        self.hidden = hidden

    def forward(self, x: Tensor) -> Tensor:
        inputs = self.input_map(self.embed(x))  # [B, T, 3H], all steps at once
        h = inputs.new_zeros(x.shape[0], self.hidden)
        sizes = [2 * self.hidden, self.hidden]
        outputs = []
        # unbind/split (backward: one stack/cat) rather than slicing (backward: a zero tensor each)
        for step in inputs.unbind(1):
            x_rz, x_n = step.split(sizes, dim=-1)
            h_rz, h_n = self.hidden_map(h).split(sizes, dim=-1)
            r, z = torch.sigmoid(x_rz + h_rz).chunk(2, dim=-1)
            n = torch.tanh(x_n + r * h_n)
            h = n + z * (h - n)  # (1 - z) n + z h
            outputs.append(h)
        return self.head(torch.stack(outputs, dim=1))


def _windows(codes: Tensor, length: int, stride: int) -> tuple[Tensor, Tensor]:
    starts = torch.arange(0, codes.shape[0] - length, stride)
    idx = starts[:, None] + torch.arange(length + 1)
    windows = codes[idx]
    return windows[:, :-1].contiguous(), windows[:, 1:].contiguous()


def char_data(seq_len: int, split: Split) -> SupervisedData:
    text, vocab = corpus()
    index = {c: i for i, c in enumerate(vocab)}
    codes = torch.tensor([index[c] for c in text], dtype=torch.int64)
    n = codes.shape[0]
    train_end, val_end = int(0.8 * n), int(0.9 * n)
    x_train, y_train = _windows(codes[:train_end], seq_len, 1)
    part = codes[train_end:val_end] if split == "val" else codes[val_end:]
    x_eval, y_eval = _windows(part, seq_len, seq_len)
    return SupervisedData(x_train, y_train, x_eval, y_eval)


def sequence_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Per-example mean cross-entropy over the positions: ``[B, T, V], [B, T] -> [B]``."""
    return F.cross_entropy(logits.transpose(1, 2), targets, reduction="none").mean(-1)


def token_accuracy(logits: Tensor, targets: Tensor) -> Score:
    """Fraction of positions whose argmax is the target."""
    correct = (logits.argmax(-1) == targets).float()
    return Score(float(correct.mean()), {"sequence_accuracy": float(correct.all(-1).float().mean())})


def char_gru(name: str = "char_gru", hidden: int = 64, seq_len: int = 12) -> FamilySpec:
    vocab = len(corpus()[1])
    return FamilySpec(
        name=name, kind="language_model",
        description=f"character GRU (hidden {hidden}) on a 5 KB public-domain corpus, windows of {seq_len}",
        model_factory=partial(CharGRU, vocab, hidden), data=partial(char_data, seq_len),
        loss=sequence_cross_entropy, score=token_accuracy, batch_size=32, population_on_cpu=True,
    )  # fmt: skip
