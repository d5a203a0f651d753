"""Lion: EvoLved Sign Momentum (Chen et al., 2023, "Symbolic Discovery of Optimization Algorithms").

Lion is not a genome of the seed's seven terms: its sign is taken of an interpolation between
the momentum and the gradient with a *different* coefficient (beta1) than the one that updates
the momentum (beta2), which no weighted sum of those terms can express. With ``beta1 = 0`` it
reduces to the genome ``SIGN_GRAD`` with decoupled weight decay (a test checks this against
:class:`optimizers.genome_optimizer.GenomeOptimizer`). The extended term set's ``LION``
(sign(0.9 m_prev + 0.1 g), :mod:`optimizers.rule`) makes ``Lion(betas=(0.9, b2))`` the genome
``[LION] x1, beta1 = b2`` exactly (tested step by step in float64).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch


def lion_update(
    param: torch.Tensor,
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    *,
    lr: float,
    beta1: float,
    beta2: float,
    weight_decay: float,
) -> None:
    """One Lion step, in place on ``param`` and ``exp_avg``.

    .. math::

        c &= \\beta_1 m + (1 - \\beta_1) g \\\\
        p &\\leftarrow p (1 - \\eta \\lambda) - \\eta \\, \\mathrm{sign}(c) \\\\
        m &\\leftarrow \\beta_2 m + (1 - \\beta_2) g
    """
    direction = exp_avg.mul(beta1).add_(grad, alpha=1.0 - beta1).sign_()
    if weight_decay != 0.0:
        param.mul_(1.0 - lr * weight_decay)
    param.add_(direction, alpha=-lr)
    exp_avg.lerp_(grad, 1.0 - beta2)


class Lion(torch.optim.Optimizer):
    """Lion (sign of interpolated momentum, decoupled weight decay).

    Every coordinate moves by exactly ``lr`` per step (plus decay), so Lion wants a learning
    rate 3-10x smaller than AdamW's and a weight decay 3-10x larger, keeping ``lr * weight_decay``
    comparable (paper, section 5).

    Args:
        params: parameters, (name, parameter) pairs, or param-group dicts.
        lr: step length ``eta`` (default 1e-4, the paper's typical value).
        betas: ``(beta1, beta2)``: interpolation for the sign, EMA of the momentum.
        weight_decay: decoupled weight decay ``lambda``.

    Raises:
        ValueError: a hyperparameter outside its range; the message names it.

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = Lion([w], lr=0.02)
        >>> for _ in range(300):
        ...     opt.zero_grad()
        ...     (w**2).sum().backward()
        ...     _ = opt.step()
        >>> bool(w.abs().max() < 0.1)
        True
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
    ) -> None:
        if not lr >= 0.0:
            raise ValueError(f"Invalid lr: {lr} (must be >= 0)")
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"Invalid betas: {betas} (each must lie in [0, 1))")
        if not weight_decay >= 0.0:
            raise ValueError(f"Invalid weight_decay: {weight_decay} (must be >= 0)")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update; the closure (if any) is evaluated first with gradients enabled."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("Lion does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                lion_update(
                    p, p.grad, state["exp_avg"],
                    lr=group["lr"], beta1=beta1, beta2=beta2, weight_decay=group["weight_decay"],
                )
        return loss
