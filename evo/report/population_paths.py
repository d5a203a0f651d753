"""Landscape paths of many genome optimizers at once, on the workers' population path.

:func:`evo.report.trajectories.trace` runs one optimizer on one model; here P members
(genome ``genomes[i]`` on model ``models[i]``: every contender from every start of one
landscape) are stacked on a leading axis (:func:`workers.population.stacked_forward.stack_members`)
and take each step together: one population forward
(:func:`~workers.population.stacked_forward.population_forward`, the point ``[P, 1, D]``),
the losses ``f(point)`` ``[P]``, one backward of their sum (members never mix, so each
member's gradient is its own loss's), and one update of every member by the shared rule with
per-member coefficients (:class:`~workers.population.scalars.PopulationScalars`, the numbers
of ``GenomeOptimizer(foreach=False)`` with ``total_steps = steps``).

Step ``t`` (1-based) of a member records, as ``trace`` does, the loss at the point before
the update and the point after it; the point after step ``t`` is the forward of step
``t + 1`` (one extra forward after the last step). A member stops (``diverged``) at the
first step whose loss or point is not finite or whose point has a coordinate beyond
``limit``; it keeps being updated with the others (its numbers touch no other member's) but
nothing more is recorded. Genomes have no escapes, so ``jumps`` stays empty.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from optimizers.genome import Genome
from optimizers.rule import rule_coefficients
from workers.population.scalars import PopulationScalars
from workers.population.stacked_forward import PopulationContext, population_forward, stack_members

Tensor = torch.Tensor
Fn = Callable[[Tensor], Tensor]


@dataclass
class Path:
    """One optimizer's path: ``points[t]`` after ``t`` steps (``points[0]`` is the start).

    Attributes:
        losses: ``losses[t - 1]`` is the loss at ``points[t - 1]``, the one step ``t`` descended.
        jumps: steps ``t`` where the optimizer escaped (segment ``points[t-1] -> points[t]``).
        diverged: the path stopped early (non-finite or far outside the plane).
    """

    label: str
    points: list[tuple[float, ...]] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    jumps: list[int] = field(default_factory=list)
    diverged: bool = False


def population_paths(
    models: Sequence[nn.Module],
    genomes: Sequence[Genome],
    labels: Sequence[str],
    loss_of: Fn,
    steps: int,
    limit: float = math.inf,
) -> list[Path]:
    """The paths of ``genomes[i]`` minimising
    ``loss_of(models[i]())``, all members stepped together; one path per member, in order.

    ``models`` share one architecture (``Point`` or ``MLP9``); they are not modified.
    """
    if not (len(models) == len(genomes) == len(labels)) or not models:
        raise ValueError("population_paths needs one model, genome and label per member, at least one")
    members = len(models)
    template = models[0]
    params, buffers = stack_members(list(models))
    names = list(params)
    exp_avg = [torch.zeros_like(params[n]) for n in names]
    exp_avg_sq = [torch.zeros_like(params[n]) for n in names]
    scalars = PopulationScalars(rule_coefficients([g.to_seed_dict() for g in genomes]), steps)
    context = PopulationContext(True)
    paths = [Path(label) for label in labels]
    recording = [True] * members
    previous: list[float] = []
    for step in range(steps + 1):
        point = population_forward(template, params, buffers, None, context).reshape(members, -1)  # [P, D]
        rows = point.detach().tolist()
        for i, (path, row) in enumerate(zip(paths, rows, strict=True)):
            if not recording[i]:
                continue
            if step == 0:
                path.points.append(tuple(row))
                continue
            value = previous[i]
            if not (math.isfinite(value) and all(math.isfinite(v) and abs(v) <= limit for v in row)):
                path.diverged, recording[i] = True, False
                continue
            path.points.append(tuple(row))
            path.losses.append(value)
        if step == steps or not any(recording):
            break
        loss = loss_of(point.unsqueeze(1)).reshape(members, -1).sum(-1)  # [P]
        previous = loss.detach().tolist()
        loss.sum().backward()
        with torch.no_grad():
            grads = [params[n].grad for n in names]
            scalars.update_(step, [params[n] for n in names], grads, exp_avg, exp_avg_sq)
        for n in names:
            params[n].grad = None
    return paths
