"""Tabular regression: scikit-learn's bundled diabetes data (``diabetes_mlp``) and Friedman's
synthetic problem #1 (``friedman_mlp``).

Data: ``sklearn.datasets.load_diabetes`` (442 patients, 10 features, a disease-progression
target; shipped inside scikit-learn, nothing downloaded). A fixed permutation cuts it into
test (20%), validation (20% of the rest) and training (the remaining 283 patients).
Features and target are standardised with the training mean and standard deviation.

Model: ReLU MLP ``10 -> width -> width -> 1`` (default width 128: ~18k parameters for 283
examples, so it overfits within 300 steps of Adam). Loss: squared error of the
standardised target (starts near 1). Score: :func:`~workers.families.common.explained_fraction`
of the evaluation split, ``max(0, 1 - MSE_eval / MSE_mean)`` with ``MSE_mean`` the error of
predicting the training mean (R^2 clipped at 0), in [0, 1]; the metric ``eval_mse`` next
to the training loss (the fitness' ``mean_last_losses``) exposes overfitting: a rule that
drives the training loss down while ``eval_mse`` rises is memorising. Divergence: loss
NaN/inf or above 50 (50 x the variance of the standardised target).

``friedman_mlp``: the same model and loss on ``sklearn.datasets.make_friedman1`` (4000 rows
drawn once with a fixed seed, noise 1.0; 2560 training rows, so unlike diabetes the step size
that wins is set by optimisation, not by early stopping; tuned AdamW picks lr 1e-2 at 200 steps,
the pick of the held-out network families). Score and divergence as for diabetes.

Parameters: ``width`` (128); batch 32.

Both are written with the public task protocol (:mod:`workers.tasks.protocol`): the factories
:func:`diabetes_mlp` and :func:`friedman_mlp` return a :class:`RegressionTask`, exactly what a
user's ``{import: "my_tasks:make_task"}`` factory returns, and the registry wraps them
(:class:`~workers.tasks.registry.ProtocolTask`). Their scores are bit-identical to the
earlier :class:`~workers.families.common.FamilySpec` form (``tests/test_custom_tasks.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from workers.families.common import FamilyModel, explained_fraction, split_pool
from workers.fitness import DIVERGENCE_LOSS

Tensor = torch.Tensor
TensorPair = tuple[Tensor, Tensor]


class RegressionMLP(FamilyModel):
    """``x [B, F]`` -> prediction ``[B]``."""

    def __init__(self, features: int, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(features, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 1)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(-1)


def squared_error(predictions: Tensor, targets: Tensor) -> Tensor:
    return (predictions - targets).square()


def regression_score(predictions: Tensor, targets: Tensor) -> tuple[float, dict[str, float]]:
    """R^2 against predicting 0, the training mean of the standardised target, and ``eval_mse``."""
    mse = float(squared_error(predictions, targets).mean())
    baseline = float(targets.square().mean())
    return explained_fraction(mse, baseline), {"eval_mse": mse}


@dataclass(frozen=True, kw_only=True)
class RegressionTask:
    """A standardised regression problem and its MLP, as a :class:`~workers.tasks.protocol.Task`."""

    train: TensorPair = field(repr=False)
    validation: TensorPair = field(repr=False)
    test: TensorPair = field(repr=False)
    features: int
    width: int = 128
    batch_size: int = 32
    direction: str = "maximize"
    divergence_bound: float = DIVERGENCE_LOSS

    def model(self) -> nn.Module:
        return RegressionMLP(self.features, self.width)

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        return squared_error(outputs, targets)

    def score(self, outputs: Tensor, targets: Tensor) -> tuple[float, dict[str, float]]:
        return regression_score(outputs, targets)


def standardised_task(features, target, pool: str, width: int) -> RegressionTask:
    """Rows cut by :func:`split_pool` under the name ``pool``; features and target standardised
    with the training rows' mean and standard deviation."""
    x = torch.as_tensor(features, dtype=torch.float32)
    y = torch.as_tensor(target, dtype=torch.float32)
    train, val, test = split_pool(x.shape[0], pool)
    mean, std = x[train].mean(0), x[train].std(0)
    y_mean, y_std = y[train].mean(), y[train].std()

    def rows(index: Tensor) -> TensorPair:
        return (x[index] - mean) / std, (y[index] - y_mean) / y_std

    return RegressionTask(
        train=rows(train), validation=rows(val), test=rows(test), features=x.shape[1], width=width
    )


def diabetes_mlp(width: int = 128) -> RegressionTask:
    """scikit-learn's diabetes data (283 training rows) and a ReLU MLP 10-width-width-1."""
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes()
    return standardised_task(bunch.data, bunch.target, "diabetes", width)


def friedman_mlp(width: int = 128, rows: int = 4000) -> RegressionTask:
    """Friedman's regression problem #1 (``sklearn.datasets.make_friedman1``: 10 uniform
    features, y = 10 sin(pi x0 x1) + 20 (x2 - 0.5)^2 + 10 x3 + 5 x4 + N(0, 1), the last five
    features noise), ``rows`` rows drawn once with a fixed seed, standardised like diabetes."""
    from sklearn.datasets import make_friedman1

    features, target = make_friedman1(n_samples=rows, n_features=10, noise=1.0, random_state=0)
    return standardised_task(features, target, "friedman", width)


TABULAR_TASKS: dict[str, tuple[Callable[[], RegressionTask], str]] = {
    "diabetes_mlp": (
        diabetes_mlp,
        "scikit-learn diabetes regression (283 training rows), ReLU MLP 10-128-128-1",
    ),
    "friedman_mlp": (
        friedman_mlp,
        "Friedman #1 synthetic regression (2560 training rows), ReLU MLP 10-128-128-1",
    ),
}
"""Registry name -> (task factory, one-line description)."""
