"""A short learning-rate sweep of one genome on one task, picked on the validation split.

For a genome with default rate eta_0 the sweep trains the genome at every rate of the grid

.. math::

    \\eta_d = \\eta_0 \\cdot 10^{d}, \\qquad d \\in D = \\{-1.5, -1, -0.5, 0, 0.5, 1, 1.5\\}

(:data:`GRID_DECADES`; everything else of the genome, its warmup and cosine included, kept)
for ``steps`` steps per seed, with the workers' own training and scoring
(:func:`workers.evaluate.evaluate`, ``selection_split="val"``): each seed's fitness is the
validation score plus the small loss bonus evo ranks by (:func:`workers.fitness.seed_fitness`;
-1 for a diverged or failed seed). The pick maximises the mean over seeds; ties (equal to
1e-9) go to the rate closest to eta_0 in decades, then to the smaller one, so a default that is
already best stays the pick.

The task is a name passed as is to the workers (``EvalRequest.task``): a built-in task, or any
other spec the workers accept.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from optimizers.genome import Genome

GRID_DECADES: tuple[float, ...] = (-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5)
"""Decades around the default rate the sweep tries (7 rates over three decades)."""
TIE = 9
"""Fitness digits compared when picking (equal to 1e-9: a tie)."""


@dataclass(frozen=True)
class SweepPoint:
    """One rate of the sweep: its decade offset d, the rate, and the mean fitness over seeds."""

    decade: float
    lr: float
    fitness: float
    per_seed: tuple[float, ...]
    diverged: int


@dataclass(frozen=True)
class Sweep:
    """The sweep's points (grid order) and the pick."""

    task: str
    steps: int
    seeds: tuple[int, ...]
    default_lr: float
    points: tuple[SweepPoint, ...]

    @property
    def pick(self) -> SweepPoint:
        """The best mean fitness; ties to the rate nearest the default, then the smaller rate."""
        return min(self.points, key=lambda p: (-round(p.fitness, TIE), abs(p.decade), p.decade))

    def genome(self, genome: Genome) -> Genome:
        """``genome`` at the picked rate (the default's own genome when the default is picked)."""
        return scaled(genome, self.pick.decade)


LR_LOG10_RANGE = (-12.0, 2.0)
"""The genome's lr_log10 bounds: a grid rate beyond them is clamped to them."""


def scaled(genome: Genome, decade: float) -> Genome:
    """The genome with its rate multiplied by 10^decade (itself for decade 0), clamped to the
    genome's lr_log10 range."""
    if decade == 0.0:
        return genome
    low, high = LR_LOG10_RANGE
    return genome.model_copy(update={"lr_log10": min(high, max(low, genome.lr_log10 + decade))})


PointScorer = Callable[[Genome], Sequence[tuple[float, bool]]]
"""Trains one genome on every seed: (fitness, diverged) per seed."""


def worker_scorer(task: str, steps: int, seeds: Sequence[int], data_dir: str, device: str) -> PointScorer:
    """Scores a genome with :func:`workers.evaluate.evaluate` in this process, validation split
    (``task``: a registry name, or a user's task key carrying its spec,
    :func:`evo.calibrate.task_argument.task_argument`)."""

    def score(genome: Genome) -> list[tuple[float, bool]]:
        from workers.evaluate import evaluate
        from workers.requests import EntrySpec, EvalRequest

        request = EvalRequest(
            request_id=f"calibrate-{genome.hash}", entries=[EntrySpec.of_genome(genome)], task=str(task),
            seeds=list(seeds), steps=steps, selection_split="val", data_dir=data_dir, device=device,
            custom_task=getattr(task, "spec", None),
        )  # fmt: skip
        return [(m.fitness, m.status != "ok") for m in evaluate(request).members]

    return score


def sweep_lr(
    genome: Genome,
    task: str,
    steps: int,
    seeds: Sequence[int],
    score: PointScorer,
    decades: Sequence[float] = GRID_DECADES,
    on_point: Callable[[SweepPoint], None] | None = None,
) -> Sweep:
    """Score ``genome`` at each rate 10^d eta_0 of ``decades`` (module docstring); ``on_point``
    is called after each rate (a progress bar)."""
    points = []
    for decade in decades:
        candidate = scaled(genome, decade)
        results = list(score(candidate))
        fitness = [f for f, _ in results]
        point = SweepPoint(
            decade=decade,
            lr=candidate.lr,
            fitness=math.fsum(fitness) / len(fitness),
            per_seed=tuple(fitness),
            diverged=sum(d for _, d in results),
        )
        points.append(point)
        if on_point is not None:
            on_point(point)
    return Sweep(task, steps, tuple(seeds), genome.lr, tuple(points))
