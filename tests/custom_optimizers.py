"""A user's optimizer module for the bring-your-own-optimizer tests (imported by path)."""

from __future__ import annotations

import torch


class ScaledSGD(torch.optim.Optimizer):
    """Plain SGD with the step multiplied by ``scale``: ``p <- p - lr * scale * g``."""

    def __init__(self, params, lr: float = 0.01, scale: float = 1.0) -> None:
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        super().__init__(params, {"lr": lr, "scale": scale})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-group["lr"] * group["scale"])
        return loss


NOT_AN_OPTIMIZER = object()
