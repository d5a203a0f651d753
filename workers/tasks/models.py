"""The task models, built without touching the global RNG.

Architectures (seed ``evolutionary_optimizer_colab.ipynb``; seed-algorithms.md section 3):

* :func:`small_cnn` (28x28x1): conv3x3(1->32, pad 1)-ReLU-maxpool2; conv3x3(32->64, pad 1)-
  ReLU-maxpool2; flatten 3136; FC 256; ReLU; dropout 0.3; FC 10.
* :func:`cifar_cnn` (32x32x3): conv(3->32)-BN-ReLU, conv(32->32)-ReLU, maxpool2, dropout 0.25;
  conv(32->64)-BN-ReLU, conv(64->64)-ReLU, maxpool2, dropout 0.25; flatten 4096; FC 512; ReLU;
  dropout 0.5; FC 10 (all convs 3x3, pad 1).
* :func:`mlp`: Linear layers with an activation between them (two_moons, digits).

Every model is a flat ``nn.Sequential`` of standard layers, which is what the population
path (:mod:`workers.population.stacked_forward`) knows how to run with stacked parameters. Dropout is
:class:`MemberDropout`, whose masks come from the member's own generator.

Models are created on the ``meta`` device and initialised by :func:`init_parameters` with
an explicit generator, reproducing PyTorch's default initialisation (Kaiming-uniform with
a = sqrt(5) for weights, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for biases, BatchNorm weight 1,
bias 0) without drawing from (or advancing) the global RNG.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch
from torch import nn

Tensor = torch.Tensor


def dropout_with_generator(x: Tensor, p: float, generator: torch.Generator | None) -> Tensor:
    """Inverted dropout: keep each element with probability 1 - p, scale kept ones by 1/(1-p).

    The mask is ``rand(x.shape, generator) >= p``: the population path draws each member's
    mask with the same call and shape, so both paths drop the same units.
    """
    keep = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) >= p
    return x * keep * (1.0 / (1.0 - p))


class MemberDropout(nn.Module):
    """``nn.Dropout`` whose masks come from ``self.generator`` (set per member by the trainer)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Invalid dropout probability: {p}")
        self.p = p
        self.generator: torch.Generator | None = None

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        return dropout_with_generator(x, self.p, self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def bind_dropout_generator(model: nn.Module, generator: torch.Generator | None) -> None:
    """Make every :class:`MemberDropout` of ``model`` draw from ``generator``."""
    for module in model.modules():
        if isinstance(module, MemberDropout):
            module.generator = generator


def small_cnn(num_classes: int = 10) -> nn.Sequential:
    """The seed's SmallCNN for 28x28 grey images."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # [B, 32, 14, 14]
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # [B, 64, 7, 7]
        nn.Flatten(),  # [B, 3136]
        nn.Linear(64 * 7 * 7, 256), nn.ReLU(), MemberDropout(0.3),
        nn.Linear(256, num_classes),
    )  # fmt: skip


def cifar_cnn(num_classes: int = 10) -> nn.Sequential:
    """The seed's CIFAR-10 CNN for 32x32 colour images."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), MemberDropout(0.25),  # [B, 32, 16, 16]
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), MemberDropout(0.25),  # [B, 64, 8, 8]
        nn.Flatten(),  # [B, 4096]
        nn.Linear(64 * 8 * 8, 512), nn.ReLU(), MemberDropout(0.5),
        nn.Linear(512, num_classes),
    )  # fmt: skip


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh}


def mlp(sizes: tuple[int, ...], activation: str = "relu") -> nn.Sequential:
    """Linear layers ``sizes[0] -> ... -> sizes[-1]`` with ``activation`` between them."""
    if len(sizes) < 2:
        raise ValueError(f"Invalid MLP sizes: {sizes}")
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def _uniform_(tensor: Tensor, bound: float, generator: torch.Generator) -> None:
    with torch.no_grad():
        tensor.uniform_(-bound, bound, generator=generator)


def init_parameters(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Re-initialise ``model`` in place like PyTorch's defaults, drawing from ``generator``.

    Modules are visited in ``model.modules()`` order, each drawing weight then bias.
    Linear/Conv: W ~ Kaiming-uniform(a = sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)); BatchNorm: weight 1, bias 0, fresh running stats.
    """
    for module in model.modules():
        if isinstance(module, nn.Linear | nn.Conv2d):
            nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
            if module.bias is not None:
                fan_in, _ = nn.init._calculate_fan_in_and_fan_out(module.weight)
                _uniform_(module.bias, 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0, generator)
        elif isinstance(module, nn.BatchNorm2d):
            module.reset_parameters()
    return model


def build_model(
    factory: Callable[[], nn.Module], generator: torch.Generator, device: torch.device | str = "cpu"
) -> nn.Module:
    """Create ``factory()`` on the meta device, initialise it on the CPU from ``generator``
    (the same weights on every device), then move it to ``device``."""
    with torch.device("meta"):
        model = factory()
    model = model.to_empty(device="cpu")
    reset = getattr(model, "reset_from_generator", None)
    if reset is not None:
        reset(generator)
    else:
        init_parameters(model, generator)
    return model.to(device)
