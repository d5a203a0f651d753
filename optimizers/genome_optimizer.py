"""``GenomeOptimizer``: a genome as a real ``torch.optim.Optimizer``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch

from optimizers.genome import Genome
from optimizers.rule_optimizer import RuleOptimizer


def as_genome(genome: Genome | Mapping[str, Any]) -> Genome:
    """Validate a genome given as a :class:`Genome` or its (seed JSON) dict."""
    return genome if isinstance(genome, Genome) else Genome.model_validate(dict(genome))


class GenomeOptimizer(RuleOptimizer):
    """Optimizer applying a genome's update rule (see :mod:`optimizers.rule` for the maths).

    The same class as every exported optimizer (both are :class:`RuleOptimizer`); this one
    takes the genome as an argument, an exported one has it baked in.

    Args:
        params: parameters or param-group dicts; a group may carry its own ``genome`` and
            its own ``lr``, ``betas``, ``eps``, ``weight_decay``, ``total_steps``,
            ``schedule``, ``maximize``, ``foreach``.
        genome: a :class:`Genome` or its seed JSON dict.
        total_steps: horizon of the cosine schedule (the seed's ``max_steps``).
        lr, betas, eps, weight_decay: default to the genome's (``10**lr_log10``,
            ``(beta1, beta2)`` with 0 for an unused moment, ...).
        foreach: None or True: the multi-tensor path (eager: the fast formulation, within
            rounding of the exact one); False: the exact per-tensor loop, bit for bit what
            the workers evaluate.
        maximize: ascend instead of descend.
        schedule: ``"genome"`` (warmup/cosine multiply the group's lr) or ``"none"``.

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([3.0]))
        >>> opt = GenomeOptimizer([w], Genome(term_types=[3], alphas=[1.0], lr_log10=-1))
        >>> for _ in range(100):
        ...     opt.zero_grad()
        ...     (w**2).sum().backward()
        ...     opt.step()
        >>> bool(abs(w.item()) < 3.0)
        True
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        genome: Genome | Mapping[str, Any],
        total_steps: int = 1000,
        *,
        lr: float | torch.Tensor | None = None,
        betas: tuple[float, float] | None = None,
        eps: float | None = None,
        weight_decay: float | None = None,
        foreach: bool | None = None,
        maximize: bool = False,
        schedule: str = "genome",
    ) -> None:
        self.genome = as_genome(genome)
        super().__init__(
            params,
            self.genome.to_seed_dict(),
            lr,
            betas,
            eps,
            weight_decay,
            total_steps,
            foreach=foreach,
            maximize=maximize,
            schedule=schedule,
        )

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if "genome" in param_group:
            param_group = {**param_group, "genome": as_genome(param_group["genome"]).to_seed_dict()}
        super().add_param_group(param_group)
