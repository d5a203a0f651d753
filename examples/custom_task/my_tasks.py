"""A user's own task for evo: a small nonlinear regression problem and its MLP.

Put this folder on ``PYTHONPATH`` and name the factory in a job config::

    tasks: [{import: "my_tasks:make_task", name: my_regression, kwargs: {hidden: 64}}]

``make_task(**kwargs)`` returns an object with the attributes of evo's task protocol
(``evo.Task``): nothing here imports evo.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

Tensor = torch.Tensor
FEATURES = 8


class MLP(nn.Module):
    """``x [B, 8]`` -> prediction ``[B]``: Linear-Tanh-Linear-Tanh-Linear."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(FEATURES, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(-1)


@dataclass(frozen=True)
class RegressionTask:
    """y = sin(w.x) + x0 x1 / 2 + noise, scored by the validation (or test) mean squared error."""

    hidden: int
    train: tuple[Tensor, Tensor] = field(repr=False)
    validation: tuple[Tensor, Tensor] = field(repr=False)
    test: tuple[Tensor, Tensor] = field(repr=False)
    batch_size: int = 64
    direction: str = "minimize"
    divergence_bound: float = 100.0

    def model(self) -> nn.Module:
        return MLP(self.hidden)

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        return (outputs - targets).square()  # one loss per example

    def score(self, outputs: Tensor, targets: Tensor) -> tuple[float, dict[str, float]]:
        mse = float((outputs - targets).square().mean())
        return mse, {"rmse": mse**0.5}


def make_task(hidden: int = 64, examples: int = 2000, noise: float = 0.1, seed: int = 0) -> RegressionTask:
    """``examples`` rows drawn once from ``seed``: 60% train, 20% validation, 20% test."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(examples, FEATURES, generator=g)
    w = torch.randn(FEATURES, generator=g) / FEATURES**0.5
    y = torch.sin(3 * x @ w) + 0.5 * x[:, 0] * x[:, 1] + noise * torch.randn(examples, generator=g)
    a, b = examples * 3 // 5, examples * 4 // 5
    return RegressionTask(hidden, train=(x[:a], y[:a]), validation=(x[a:b], y[a:b]), test=(x[b:], y[b:]))
