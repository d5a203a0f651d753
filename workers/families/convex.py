"""Ill-conditioned, rotated logistic regression (convex): ``logreg_illcond`` (and variants).

Data (fixed generator): inputs ``x = Q diag(sqrt(lambda)) z`` with ``z ~ N(0, I_d)``, a
random orthogonal ``Q`` (QR of a Gaussian matrix) and eigenvalues ``lambda`` log-spaced
from 1 down to ``1 / condition``, so the covariance ``Q diag(lambda) Q^T`` has condition
number ``condition`` and no axis-aligned structure (per-coordinate scaling cannot undo the
rotation). True weights ``w* = Q diag(lambda^-1/2) u`` with ``||u|| = 4``: every eigen-
direction carries the same share of the logit ``w*.x = u.z`` (std 4), so the optimum needs
weights ~sqrt(condition) times larger along the flat directions. Labels ~ Bernoulli(
sigmoid(w*.x)) (noisy, so the optimum is finite). 4096 training examples.

Model: ``Linear(d, 1)`` (convex in its parameters). Loss: binary cross-entropy with logits.
Score (an optimisation score: the evaluation set is the training set itself):
``1 / (1 + gap / 0.1)`` with ``gap = L(w) - L*`` the excess full-batch training loss over
its minimum ``L*`` (found by Newton's method in float64 when the data are built), in
(0, 1]; 0.5 at a gap of 0.1 nats. ``gap`` and ``train_loss`` are metrics. Divergence:
loss NaN/inf or above 50.

Parameters: ``dim`` (32), ``condition`` (1e3); batch 128.
"""

from __future__ import annotations

import math
from functools import cache, partial

import torch
import torch.nn.functional as F
from torch import nn

from workers.families.common import FamilyModel, FamilySpec, Split, SupervisedData
from workers.seeding import stream_seed
from workers.tasks.runtime import Score

Tensor = torch.Tensor
TRAIN_EXAMPLES = 4096
LOGIT_SCALE = 4.0
GAP_SCALE = 0.1
NEWTON_STEPS = 50


class LogisticRegression(FamilyModel):
    """``x [B, d]`` -> logit ``[B]``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).squeeze(-1)


@cache
def _problem(dim: int, condition: float) -> tuple[Tensor, Tensor, float]:
    """(x [N, d], y [N] in {0, 1}, L*) in float32/float32/float."""
    g = torch.Generator().manual_seed(stream_seed(f"logreg{dim}c{condition:g}", 0, "data"))
    q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=torch.float64))
    eigen = torch.logspace(0.0, -math.log10(condition), dim, dtype=torch.float64)
    z = torch.randn(TRAIN_EXAMPLES, dim, generator=g, dtype=torch.float64)
    x = (z * eigen.sqrt()) @ q.T
    u = torch.randn(dim, generator=g, dtype=torch.float64)
    u = u / u.norm() * LOGIT_SCALE
    w_true = q @ (u / eigen.sqrt())
    y = (torch.rand(TRAIN_EXAMPLES, generator=g, dtype=torch.float64) < torch.sigmoid(x @ w_true)).double()
    return x.float(), y.float(), _minimum(x, y)


def _minimum(x: Tensor, y: Tensor) -> float:
    """min over (w, b) of the mean logistic loss, by Newton's method (float64)."""
    a = torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype)], dim=1)
    w = torch.zeros(a.shape[1], dtype=x.dtype)
    for _ in range(NEWTON_STEPS):
        p = torch.sigmoid(a @ w)
        grad = a.T @ (p - y) / a.shape[0]
        hess = (a.T * (p * (1 - p))) @ a / a.shape[0]
        w = w - torch.linalg.solve(hess, grad)
    return float(F.binary_cross_entropy_with_logits(a @ w, y))


def logreg_data(dim: int, condition: float, split: Split) -> SupervisedData:
    x, y, _ = _problem(dim, condition)
    return SupervisedData(x, y, x, y)


def logistic_loss(logits: Tensor, labels: Tensor) -> Tensor:
    return F.binary_cross_entropy_with_logits(logits, labels, reduction="none")


def optimality_score(dim: int, condition: float, logits: Tensor, labels: Tensor) -> Score:
    loss = float(logistic_loss(logits.double(), labels.double()).mean())
    gap = max(0.0, loss - _problem(dim, condition)[2])
    score = 1.0 / (1.0 + gap / GAP_SCALE) if math.isfinite(gap) else 0.0
    return Score(score, {"gap": gap, "train_loss": loss})


def logreg_illcond(name: str = "logreg_illcond", dim: int = 32, condition: float = 1e3) -> FamilySpec:
    return FamilySpec(
        name=name, kind="convex",
        description=f"logistic regression, {dim} rotated features, covariance condition number {condition:g}",
        model_factory=partial(LogisticRegression, dim), data=partial(logreg_data, dim, condition),
        loss=logistic_loss, score=partial(optimality_score, dim, condition), batch_size=128,
        population_on_cpu=True,
    )  # fmt: skip
