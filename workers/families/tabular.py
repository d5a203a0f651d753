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
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from workers.families.common import (
    FamilyModel,
    FamilySpec,
    Split,
    SupervisedData,
    explained_fraction,
    split_pool,
)
from workers.tasks.runtime import Score

Tensor = torch.Tensor


class RegressionMLP(FamilyModel):
    """``x [B, F]`` -> prediction ``[B]``."""

    def __init__(self, features: int, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(features, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 1)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(-1)


def standardised_split(features, target, pool: str, split: Split) -> SupervisedData:
    """Rows cut by :func:`split_pool` under the name ``pool``; features and target standardised
    with the training rows' mean and standard deviation."""
    x = torch.as_tensor(features, dtype=torch.float32)
    y = torch.as_tensor(target, dtype=torch.float32)
    train, val, test = split_pool(x.shape[0], pool)
    evaluation = val if split == "val" else test
    mean, std = x[train].mean(0), x[train].std(0)
    y_mean, y_std = y[train].mean(), y[train].std()
    return SupervisedData(
        (x[train] - mean) / std, (y[train] - y_mean) / y_std,
        (x[evaluation] - mean) / std, (y[evaluation] - y_mean) / y_std,
    )  # fmt: skip


def diabetes_data(split: Split) -> SupervisedData:
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes()
    return standardised_split(bunch.data, bunch.target, "diabetes", split)


def friedman_data(split: Split, rows: int = 4000) -> SupervisedData:
    """Friedman's regression problem #1 (``sklearn.datasets.make_friedman1``: 10 uniform
    features, y = 10 sin(pi x0 x1) + 20 (x2 - 0.5)^2 + 10 x3 + 5 x4 + N(0, 1), the last five
    features noise), ``rows`` rows drawn once with a fixed seed, standardised like diabetes."""
    from sklearn.datasets import make_friedman1

    features, target = make_friedman1(n_samples=rows, n_features=10, noise=1.0, random_state=0)
    return standardised_split(features, target, "friedman", split)


def squared_error(predictions: Tensor, targets: Tensor) -> Tensor:
    return (predictions - targets).square()


def regression_score(predictions: Tensor, targets: Tensor) -> Score:
    """R^2 against predicting 0, the training mean of the standardised target."""
    mse = float(squared_error(predictions, targets).mean())
    baseline = float(targets.square().mean())
    return Score(explained_fraction(mse, baseline), {"eval_mse": mse})


def _regression_mlp(name: str, width: int, what: str, data) -> FamilySpec:
    return FamilySpec(
        name=name, kind="regression", description=f"{what}, ReLU MLP 10-{width}-{width}-1",
        model_factory=partial(RegressionMLP, 10, width), data=data, loss=squared_error,
        score=regression_score, batch_size=32, population_on_cpu=True,
    )  # fmt: skip


def diabetes_mlp(name: str = "diabetes_mlp", width: int = 128) -> FamilySpec:
    return _regression_mlp(name, width, "scikit-learn diabetes regression (283 training rows)", diabetes_data)


def friedman_mlp(name: str = "friedman_mlp", width: int = 128) -> FamilySpec:
    what = "Friedman #1 synthetic regression (2560 training rows)"
    return _regression_mlp(name, width, what, friedman_data)
