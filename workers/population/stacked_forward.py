"""Run P copies of one architecture at once with stacked parameters (a fused grouped model).

A population's parameters are the members' parameters stacked on a leading axis,
``params[name]`` of shape ``[P, *shape]`` keyed by the module's own parameter names, so the
same ``nn.Module`` (used by the sequential path) describes the population's architecture:

* ``Linear``: ``h [P, B, in] -> baddbmm(b [P, 1, out], h, W^T [P, in, out]) -> [P, B, out]``
  (a weight-normed Linear computes W = v g / ||v||_row per member first);
* ``Conv2d``: members' channels side by side, ``h [B, P*C, H, W]``, one convolution with
  ``groups = P`` and weights ``[P*O, C, k, k]``;
* ``BatchNorm2d``: per channel of ``[B, P*C, H, W]``, i.e. per member and channel, with the
  stacked running statistics updated in place;
* ``MemberDropout``: each member's mask drawn from its own generator with the shape the
  sequential model would draw, so both paths drop the same units;
* activations, max pooling and ``Flatten`` act element- or channel-wise; ``Flatten`` turns
  ``[B, P*C, H, W]`` back into ``[P, B, C*H*W]``.

:class:`~workers.tasks.landscape_models.MLP9` and :class:`~workers.tasks.landscape_models.Point` have
their own small population forwards. Members never mix: member i's outputs and gradients
depend only on member i's parameters and inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from workers.tasks.landscape_models import MLP9, Point
from workers.tasks.models import MemberDropout, init_parameters

Tensor = torch.Tensor


@dataclass
class PopulationContext:
    """What one population forward needs besides parameters and inputs.

    Attributes:
        training: train mode (dropout on, BatchNorm batch statistics) or eval mode.
        dropout_generators: one generator per member of this chunk (train mode).
    """

    training: bool
    dropout_generators: list[torch.Generator] | None = None


def stack_members(models: list[nn.Module]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Stack members' parameters (new leaf tensors with grad) and float buffers on axis 0."""
    own_params = [dict(m.named_parameters()) for m in models]  # once per model, not per name
    own_buffers = [dict(m.named_buffers()) for m in models]
    params = {
        name: torch.stack([own[name].detach() for own in own_params]).requires_grad_(True)
        for name in own_params[0]
    }
    buffers = {
        name: torch.stack([b[name] for b in own_buffers])
        for name, buf in own_buffers[0].items()
        if buf.is_floating_point()
    }
    return params, buffers


def init_stacked(
    model: nn.Module, generators: list[torch.Generator], device: torch.device | str = "cpu"
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """The stacked parameters and float buffers of P members, member i initialised from
    ``generators[i]`` (CPU) as :func:`workers.tasks.models.build_model` initialises a fresh model:
    ``model`` (on the CPU, every parameter and buffer set by its initialisation, as
    ``build_model``'s models) is re-initialised once per member and copied into the stack,
    instead of P models built. The numbers are those of :func:`stack_members` on P models of
    ``build_model`` (``tests/test_population_start.py``); ``model`` is left holding the last
    member's values."""
    members = len(generators)
    params = {name: torch.empty(members, *p.shape, dtype=p.dtype) for name, p in model.named_parameters()}
    buffers = {
        name: torch.empty(members, *b.shape, dtype=b.dtype)
        for name, b in model.named_buffers()
        if b.is_floating_point()
    }
    reset = getattr(model, "reset_from_generator", None)
    with torch.no_grad():
        for i, generator in enumerate(generators):
            if reset is not None:
                reset(generator)
            else:
                init_parameters(model, generator)
            for name, p in model.named_parameters():
                params[name][i].copy_(p)
            for name, b in model.named_buffers():
                if name in buffers:
                    buffers[name][i].copy_(b)
    params = {name: p.to(device).requires_grad_(True) for name, p in params.items()}
    return params, {name: b.to(device) for name, b in buffers.items()}


def _linear(layer: nn.Linear, name: str, params: dict[str, Tensor], h: Tensor) -> Tensor:
    if parametrize.is_parametrized(layer, "weight"):
        g = params[f"{name}.parametrizations.weight.original0"]  # [P, out, 1]
        v = params[f"{name}.parametrizations.weight.original1"]  # [P, out, in]
        weight = v * (g / v.norm(dim=2, keepdim=True))
    else:
        weight = params[f"{name}.weight"]  # [P, out, in]
    bias = params.get(f"{name}.bias")
    if bias is None:
        return torch.bmm(h, weight.transpose(1, 2))
    return torch.baddbmm(bias.unsqueeze(1), h, weight.transpose(1, 2))  # [P, B, out]


def _conv2d(layer: nn.Conv2d, name: str, params: dict[str, Tensor], h: Tensor, members: int) -> Tensor:
    weight = params[f"{name}.weight"]  # [P, O, C/groups, k, k]
    bias = params.get(f"{name}.bias")
    return F.conv2d(
        h, weight.reshape(-1, *weight.shape[2:]), None if bias is None else bias.reshape(-1),
        layer.stride, layer.padding, layer.dilation, groups=members * layer.groups,
    )  # fmt: skip


def _batch_norm(layer: nn.BatchNorm2d, name: str, params, buffers, h: Tensor, training: bool) -> Tensor:
    mean = buffers.get(f"{name}.running_mean")
    var = buffers.get(f"{name}.running_var")
    return F.batch_norm(
        h,
        None if mean is None else mean.view(-1),  # views: the update lands in the stacked buffers
        None if var is None else var.view(-1),
        params[f"{name}.weight"].reshape(-1) if layer.affine else None,
        params[f"{name}.bias"].reshape(-1) if layer.affine else None,
        training=training or mean is None,
        momentum=layer.momentum if layer.momentum is not None else 0.0,
        eps=layer.eps,
    )


def _dropout(p: float, h: Tensor, grouped: bool, members: int, ctx: PopulationContext) -> Tensor:
    if not ctx.training or p == 0.0:
        return h
    if ctx.dropout_generators is None or len(ctx.dropout_generators) != members:
        raise ValueError("population dropout needs one generator per member")
    if grouped:  # [B, P*C, H, W]: member i's activations are [B, C, H, W]
        b, _, *rest = h.shape
        shape = (b, h.shape[1] // members, *rest)
        masks = [
            torch.rand(shape, generator=g, device=h.device, dtype=h.dtype) for g in ctx.dropout_generators
        ]
        keep = torch.stack(masks, dim=1).reshape(h.shape) >= p
    else:  # [P, B, F]
        masks = [
            torch.rand(h.shape[1:], generator=g, device=h.device, dtype=h.dtype)
            for g in ctx.dropout_generators
        ]
        keep = torch.stack(masks) >= p
    return h * keep * (1.0 / (1.0 - p))


def sequential_forward(
    seq: nn.Sequential,
    prefix: str,
    params: dict[str, Tensor],
    buffers: dict[str, Tensor],
    x: Tensor,
    ctx: PopulationContext,
) -> Tensor:
    """Run ``seq`` for every member: ``x [P, B, ...]`` -> ``[P, B, ...]``."""
    members = x.shape[0]
    h, grouped = x, False
    for index, layer in enumerate(seq):
        name = f"{prefix}{index}"
        if isinstance(layer, nn.Conv2d):
            if not grouped:  # [P, B, C, H, W] -> [B, P*C, H, W]
                h = h.transpose(0, 1).reshape(h.shape[1], -1, *h.shape[3:])
                grouped = True
            h = _conv2d(layer, name, params, h, members)
        elif isinstance(layer, nn.Linear):
            if grouped:
                raise ValueError(f"layer {name}: Linear after a convolution needs a Flatten first")
            h = _linear(layer, name, params, h)
        elif isinstance(layer, nn.BatchNorm2d):
            h = _batch_norm(layer, name, params, buffers, h, ctx.training)
        elif isinstance(layer, MemberDropout):
            h = _dropout(layer.p, h, grouped, members, ctx)
        elif isinstance(layer, nn.Flatten):
            if grouped:  # [B, P*C, H, W] -> [P, B, C*H*W]
                h = h.reshape(h.shape[0], members, -1).transpose(0, 1)
                grouped = False
            else:
                h = h.flatten(2)
        elif isinstance(layer, nn.ReLU):
            # in place after ops whose backward does not need their output (saves a copy)
            after_safe_op = index > 0 and isinstance(seq[index - 1], nn.Conv2d | nn.Linear | nn.BatchNorm2d)
            h = F.relu(h, inplace=after_safe_op)
        elif isinstance(layer, nn.Tanh | nn.MaxPool2d):
            h = layer(h)
        else:
            raise TypeError(f"population path cannot run layer {name}: {type(layer).__name__}")
    if grouped:
        h = h.reshape(h.shape[0], members, -1, *h.shape[2:]).transpose(0, 1)
    return h


def population_forward(
    model: nn.Module,
    params: dict[str, Tensor],
    buffers: dict[str, Tensor],
    x: Tensor | None,
    ctx: PopulationContext,
) -> Tensor:
    """The population version of ``model(x)`` (or ``model()`` for landscape models)."""
    if isinstance(model, nn.Sequential):
        return sequential_forward(model, "", params, buffers, x, ctx)
    if isinstance(model, Point):
        return params["x"]  # [P, 1, D]
    if isinstance(model, MLP9):
        latent = params["latent"]  # [P, 1, in]
        h = sequential_forward(model.net1, "net1.", params, buffers, latent, ctx)  # [P, 1, h - in]
        features = torch.cat([h, latent], dim=-1)  # [P, 1, h]
        return sequential_forward(model.net2, "net2.", params, buffers, features, ctx)  # [P, 1, out]
    raise TypeError(f"population path cannot run model {type(model).__name__}")


def chunk(values: dict[str, Tensor], start: int, stop: int) -> dict[str, Tensor]:
    """Members ``start:stop`` of stacked tensors (views; gradients flow to the stack)."""
    return {name: value[start:stop] for name, value in values.items()}
