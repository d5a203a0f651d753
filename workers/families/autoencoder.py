"""A convolutional autoencoder on scikit-learn's 8x8 digits: ``digits_autoencoder`` (and variants).

Data: ``sklearn.datasets.load_digits`` images scaled to [0, 1], shape [1, 8, 8]; a fixed
permutation gives test (20%), validation (20% of the rest) and training (1151 images).
The target is the input.

Model (:class:`ConvAutoencoder`): ``conv3x3(1->8) ReLU conv3x3/2(8->16) ReLU`` (16x4x4),
``Linear(256, code)`` (the bottleneck, linear), ``Linear(code, 256) ReLU``,
``ConvTranspose4x4/2(16->8) ReLU conv3x3(8->1)`` with a linear output (no sigmoid, so a
diverging rule shows in the loss). Loss: per-image mean squared error over the 64 pixels.
Score: :func:`~workers.families.common.explained_fraction` of the evaluation images,
``max(0, 1 - MSE / MSE_mean)`` with ``MSE_mean`` the error of the training mean image,
in [0, 1]; ``eval_mse`` is a metric. Divergence: loss NaN/inf or above 50 (pixels lie in
[0, 1], a mean-image error is ~0.1).

Parameters: ``code`` (bottleneck size, default 16); batch 32.
"""

from __future__ import annotations

from functools import cache, partial

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


class ConvAutoencoder(FamilyModel):
    """``x [B, 1, 8, 8]`` -> reconstruction ``[B, 1, 8, 8]``."""

    def __init__(self, code: int) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
            nn.Linear(16 * 4 * 4, code),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Linear(code, 16 * 4 * 4), nn.ReLU(), nn.Unflatten(1, (16, 4, 4)),
            nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(8, 1, 3, padding=1),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))


def digit_images(split: Split) -> SupervisedData:
    from sklearn.datasets import load_digits

    images = torch.as_tensor(load_digits().data / 16.0, dtype=torch.float32).view(-1, 1, 8, 8)
    train, val, test = split_pool(images.shape[0], "digits_autoencoder")
    evaluation = images[val if split == "val" else test]
    return SupervisedData(images[train], images[train], evaluation, evaluation)


def pixel_squared_error(reconstructions: Tensor, images: Tensor) -> Tensor:
    """Per-image mean squared error [B]."""
    return (reconstructions - images).square().flatten(1).mean(-1)


@cache
def _training_mean_image() -> Tensor:
    return digit_images("val").x_train.mean(0, keepdim=True)


def reconstruction_score(reconstructions: Tensor, images: Tensor) -> Score:
    mse = float(pixel_squared_error(reconstructions, images).mean())
    mean_image = _training_mean_image().to(images.device).expand_as(images)
    baseline = float(pixel_squared_error(mean_image, images).mean())
    return Score(explained_fraction(mse, baseline), {"eval_mse": mse})


def digits_autoencoder(name: str = "digits_autoencoder", code: int = 16) -> FamilySpec:
    return FamilySpec(
        name=name, kind="autoencoder",
        description=f"convolutional autoencoder (bottleneck {code}) on scikit-learn 8x8 digits",
        model_factory=partial(ConvAutoencoder, code), data=digit_images, loss=pixel_squared_error,
        score=reconstruction_score, batch_size=32, population_on_cpu=True,
    )  # fmt: skip
