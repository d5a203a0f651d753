"""Models whose output is the point at which a landscape is evaluated (seed ``004``).

* :class:`Point`: direct optimisation, the point itself is the parameter ``[1, D]``.
* :class:`MLP9`: overparameterised optimisation. A trainable latent ``[1, in]`` (U[0, 1),
  optimised with the weights, not a fixed input) goes through
  ``net1 = 4 x (Linear-ReLU)`` (in -> h -> h -> h -> h - in), is concatenated with the latent
  back to h features, then ``net2 = 4 x (Linear(h, h)-ReLU), Linear(h, out)``: 9 linear
  layers, no output activation. The seed's size is in 128, hidden 512 (1,839,617 parameters
  for out 1); ``weight_norm=True`` wraps the 8 hidden Linears in weight normalisation as the
  seed did for every README number (1,843,585 parameters).

Both start at a given point, :func:`place_at`: a Point is set exactly; an MLP9's output
bias is shifted so that its output equals the start point exactly. With ``pretrain=True``
(for reproductions of the seed's numbers) the MLP9 first runs the seed's initialisation
phase, Adam lr 5e-4 on MSE(model(), start) until MSE < 1e-6, with a step cap instead of
the seed's wall-clock timeout so the result is deterministic. The registry's tasks do not
pretrain (exact, instant, independent of any optimizer; a pretraining phase takes ~100-3000
Adam steps per member). Either way the evaluated optimizer starts fresh from these weights
(in the seed the initialisation Adam's moments carried on into the main phase).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm as apply_weight_norm

Tensor = torch.Tensor

INIT_LR = 5e-4
INIT_TOLERANCE = 1e-6
INIT_MAX_STEPS = 3000


class Point(nn.Module):
    """A trainable point ``x`` of shape [1, D]; ``forward()`` returns it."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.x = nn.Parameter(torch.empty(1, dim))

    def reset_from_generator(self, generator: torch.Generator) -> None:
        """The seed's init N(0, 1) * 0.01 (tasks then place the point at their start)."""
        with torch.no_grad():
            self.x.normal_(0.0, 0.01, generator=generator)

    def forward(self) -> Tensor:
        return self.x


class MLP9(nn.Module):
    """The seed's 9-layer MLP with a trainable latent input; ``forward()`` -> [1, out]."""

    def __init__(
        self, in_ch: int = 128, out_ch: int = 1, hidden_ch: int = 512, weight_norm: bool = False
    ) -> None:
        super().__init__()
        if not 0 < in_ch < hidden_ch:
            raise ValueError(f"Invalid MLP9 sizes: need 0 < in_ch < hidden_ch, got {in_ch}, {hidden_ch}")
        self.latent = nn.Parameter(torch.empty(1, in_ch))
        h = hidden_ch
        self.net1 = nn.Sequential(
            nn.Linear(in_ch, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(),
            nn.Linear(h, h), nn.ReLU(), nn.Linear(h, h - in_ch), nn.ReLU(),
        )  # fmt: skip
        self.net2 = nn.Sequential(
            nn.Linear(h, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(),
            nn.Linear(h, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(),
            nn.Linear(h, out_ch),
        )  # fmt: skip
        if weight_norm:
            for layer in self.linears()[:-1]:
                apply_weight_norm(layer)

    def linears(self) -> list[nn.Linear]:
        """The 9 Linear layers in forward order."""
        return [m for m in (*self.net1, *self.net2) if isinstance(m, nn.Linear)]

    def reset_from_generator(self, generator: torch.Generator) -> None:
        """PyTorch's default Linear init and latent ~ U[0, 1), drawn from ``generator``.

        A weight-normed layer initialises its direction v like a weight and sets its
        magnitude g = ||v|| per output row (what ``weight_norm`` does on wrapping).
        """
        with torch.no_grad():
            for layer in self.linears():
                if parametrize.is_parametrized(layer, "weight"):
                    g = layer.parametrizations.weight.original0  # [out, 1]
                    v = layer.parametrizations.weight.original1  # [out, in]
                    nn.init.kaiming_uniform_(v, a=math.sqrt(5), generator=generator)
                    g.copy_(v.norm(dim=1, keepdim=True))
                    fan_in = v.shape[1]
                else:
                    nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
                    fan_in = layer.weight.shape[1]
                bound = 1.0 / math.sqrt(fan_in)
                layer.bias.uniform_(-bound, bound, generator=generator)
            self.latent.uniform_(0.0, 1.0, generator=generator)

    def forward(self) -> Tensor:
        features = torch.cat([self.net1(self.latent), self.latent], dim=-1)  # [1, h]
        return self.net2(features)  # [1, out]


def output_bias(model: nn.Module) -> Tensor:
    """The parameter that shifts the model's output: Point.x or MLP9's last bias."""
    if isinstance(model, Point):
        return model.x
    if isinstance(model, MLP9):
        return model.linears()[-1].bias
    raise TypeError(f"not a landscape model: {type(model).__name__}")


def pretrain_to_point(
    model: nn.Module,
    target: Tensor,
    lr: float = INIT_LR,
    tol: float = INIT_TOLERANCE,
    max_steps: int = INIT_MAX_STEPS,
) -> int:
    """The seed's initialisation phase: Adam(lr) steps on MSE(model(), target) until
    MSE < tol or ``max_steps``; returns the number of steps taken."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    target = target.reshape(1, -1)
    for step in range(max_steps):
        optimizer.zero_grad(set_to_none=True)
        loss = ((model() - target) ** 2).mean()
        if loss.item() < tol:
            return step
        loss.backward()
        optimizer.step()
    return max_steps


def place_at(model: nn.Module, start: Tensor, pretrain: bool = False) -> None:
    """Make ``model()`` equal ``start`` [D]: pretrain an MLP9 (optional), then shift the
    output bias by the remaining difference (exact for a Point)."""
    if isinstance(model, MLP9) and pretrain:
        pretrain_to_point(model, start)
    with torch.no_grad():
        if isinstance(model, Point):
            model.x.copy_(start.reshape(1, -1))
            return
        bias = output_bias(model)
        bias.add_((start.reshape(1, -1) - model()).reshape(bias.shape))
