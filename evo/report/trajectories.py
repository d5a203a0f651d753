"""Optimizer paths on the analytic landscapes, for the pictures of ``evo landscape``.

Every optimizer (the run's best genome through :class:`GenomeOptimizer`, fixed entries from
:data:`optimizers.registry.REGISTRY`) minimises the same function from the same start
points, ``loss = opt.step(closure)`` with ``closure`` returning :math:`f(x)` of the current
point, and the point is recorded after every step: a path is ``x_0`` (the start) ... ``x_T``.

* 2-D planes (:data:`PLANES`): Rastrigin, Ackley and Rosenbrock in 2-D (the registry's
  tasks use them in 10-D / 1-D; the formulas of :mod:`workers.tasks.landscapes` hold for any D)
  and six-hump camel; the point itself is the parameter.
* 1-D curves (:data:`CURVES`): Ackley from 10.0 and the quartic ("qubic") from 0.96, each
  directly (:class:`Point`) and overparameterised (the point is the output of the
  registry's CPU-sized :class:`MLP9`, placed at the start by its output bias), as in seed 004.

By default every genome contender (the evolved genome and the registry's genome entries)
runs on the population path (:mod:`evo.report.population_paths`): all of them from all
starts of one landscape stacked and stepped together; opaque entries (ALME, Azure Sky,
Lion, ...) run one at a time through :func:`trace`. ``one_at_a_time=True`` traces every
contender with :func:`trace` (the reference the population path is tested against).

ALME's escapes are read from its statistics: a step whose ``escape_count`` grew is recorded
in :attr:`Path.jumps`; the point after that step is where the escape landed, so the segment
``x_{t-1} -> x_t`` is the jump. A path stops early (``diverged``) when the loss or the point
is no longer finite or the point leaves the plane by more than its own width.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from evo.report.population_paths import Path, population_paths
from optimizers.entry import FixedEntry, genome_entry
from optimizers.genome import Genome
from optimizers.registry import REGISTRY
from workers.tasks.landscape_models import MLP9, Point, place_at
from workers.tasks.landscapes import LANDSCAPES, ackley, rastrigin, rosenbrock, six_hump_camel
from workers.tasks.registry import OVERPARAM_HIDDEN, OVERPARAM_LATENT

Tensor = torch.Tensor
Fn = Callable[[Tensor], Tensor]
GENERATOR_SEED = 0
"""Seed of the generator handed to stochastic optimizers and of the MLP9's initialisation."""


@dataclass(frozen=True)
class Plane:
    """A 2-D landscape to draw: ``fn`` over ``[xlim] x [ylim]``, its minima and start points.

    Attributes:
        log_color: colour by ``log10(f - f_min + 1e-3)`` (ranges spanning decades).
    """

    name: str
    title: str
    fn: Fn
    f_min: float
    minimizers: tuple[tuple[float, float], ...]
    starts: tuple[tuple[float, float], ...]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    log_color: bool


PLANES: dict[str, Plane] = {
    p.name: p
    for p in (
        Plane(
            "rastrigin",
            "Rastrigin (2-D)",
            rastrigin,
            0.0,
            ((0.0, 0.0),),
            ((-2.35, 3.4), (3.4, -1.6)),
            (-4.0, 4.0),
            (-4.0, 4.0),
            False,
        ),
        Plane(
            "ackley",
            "Ackley (2-D)",
            ackley,
            0.0,
            ((0.0, 0.0),),
            ((-3.35, 2.4), (2.6, -3.4)),
            (-4.0, 4.0),
            (-4.0, 4.0),
            False,
        ),
        Plane(
            "rosenbrock",
            "Rosenbrock (2-D)",
            rosenbrock,
            0.0,
            ((1.0, 1.0),),
            ((-1.5, 2.0), (1.8, -0.5)),
            (-2.0, 2.2),
            (-1.0, 3.0),
            True,
        ),
        Plane(
            "six_hump_camel",
            "Six-hump camel",
            six_hump_camel,
            LANDSCAPES["six_hump_camel"].f_min,
            LANDSCAPES["six_hump_camel"].minimizers,
            ((2.0, 2.0), (-1.7, -0.8)),
            (-2.2, 2.2),
            (-1.4, 2.2),
            True,
        ),
    )
}
"""name -> :class:`Plane` (the contour pictures)."""

CURVES: tuple[str, ...] = ("ackley", "qubic_1d")
"""The 1-D landscapes of :data:`workers.tasks.landscapes.LANDSCAPES` drawn as curves."""


@dataclass(frozen=True)
class Contender:
    """An optimizer to trace: a label and its :class:`FixedEntry` (genomes wrapped as one)."""

    label: str
    entry: FixedEntry
    evolved: bool = False


def contenders(best: Genome | None, entries: Sequence[str]) -> list[Contender]:
    """The best genome (first, when given) and the registry entries named in ``entries``.

    Raises:
        KeyError: a name not in the registry (the message lists the known ones).
    """
    out = []
    if best is not None:
        out.append(
            Contender(f"evolved {best.hash[:8]}", genome_entry("evolved", best, best.describe()), True)
        )
    for name in entries:
        if name not in REGISTRY:
            raise KeyError(f"unknown optimizer {name!r}; known: {', '.join(sorted(REGISTRY))}")
        out.append(Contender(name, REGISTRY[name]))
    return out


def trace(
    model: nn.Module, loss_of: Fn, entry: FixedEntry, steps: int, label: str, limit: float = math.inf
) -> Path:
    """Run ``entry``'s optimizer on ``loss_of(model())`` for ``steps`` steps; record ``model()``.

    Args:
        limit: the path stops (``diverged``) when a coordinate's magnitude exceeds it.
    """
    generator = torch.Generator().manual_seed(GENERATOR_SEED)
    optimizer = entry.build(model.parameters(), total_steps=steps, generator=generator)
    path = Path(label)
    with torch.no_grad():
        path.points.append(tuple(float(v) for v in model().reshape(-1)))
    escapes = _escape_count(optimizer)

    def closure() -> Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_of(model()).sum()
        loss.backward()
        return loss

    for step in range(1, steps + 1):
        loss = optimizer.step(closure)
        with torch.no_grad():
            point = tuple(float(v) for v in model().reshape(-1))
        value = (
            float(loss.detach())
            if isinstance(loss, Tensor)
            else float(loss if loss is not None else math.nan)
        )
        if not (math.isfinite(value) and all(math.isfinite(v) and abs(v) <= limit for v in point)):
            path.diverged = True
            break
        path.points.append(point)
        path.losses.append(value)
        count = _escape_count(optimizer)
        if count > escapes:
            path.jumps.append(step)
            escapes = count
    return path


def plane_paths(
    plane: Plane, contenders_: Sequence[Contender], steps: int, one_at_a_time: bool = False
) -> list[list[Path]]:
    """Paths on ``plane``: ``[start][contender]``, every contender from the same starts."""
    width = max(plane.xlim[1] - plane.xlim[0], plane.ylim[1] - plane.ylim[0])
    limit = max(map(abs, (*plane.xlim, *plane.ylim))) + width

    def model_at(start: tuple[float, float]) -> nn.Module:
        model = Point(2)
        with torch.no_grad():
            model.x.copy_(torch.tensor([start], dtype=torch.float32))
        return model

    runs = [(start, c) for start in plane.starts for c in contenders_]
    paths = _paths([model_at(start) for start, _ in runs], [c for _, c in runs], plane.fn, steps, limit,
                   one_at_a_time)  # fmt: skip
    n = len(contenders_)
    return [paths[i * n : (i + 1) * n] for i in range(len(plane.starts))]


def curve_paths(
    name: str, contenders_: Sequence[Contender], steps: int, one_at_a_time: bool = False
) -> dict[str, list[Path]]:
    """1-D paths on landscape ``name``: ``{"direct": [...], "overparam": [...]}`` per contender.

    Both start at the landscape's start point; the MLP9 is initialised from a fixed
    generator (the same weights for every contender).
    """
    land = LANDSCAPES[name]
    start = torch.tensor(land.start, dtype=torch.float32)
    limit = 100.0 * (abs(land.start[0]) + 1.0)  # type: ignore[index]

    def model_for(kind: str) -> nn.Module:
        model: nn.Module = Point(1) if kind == "direct" else MLP9(OVERPARAM_LATENT, 1, OVERPARAM_HIDDEN)
        model.reset_from_generator(torch.Generator().manual_seed(GENERATOR_SEED))  # type: ignore[operator]
        place_at(model, start)
        return model

    return {
        kind: _paths([model_for(kind) for _ in contenders_], contenders_, land.fn, steps, limit, alone)
        for kind, alone in (("direct", one_at_a_time), ("overparam", one_at_a_time))
    }


def _paths(
    models: Sequence[nn.Module],
    contenders_: Sequence[Contender],
    loss_of: Fn,
    steps: int,
    limit: float,
    one_at_a_time: bool,
) -> list[Path]:
    """``contenders_[i]``'s path on ``models[i]``: genome contenders together on the
    population path (unless ``one_at_a_time``), the others one by one; in input order."""
    stacked = [] if one_at_a_time else [i for i, c in enumerate(contenders_) if c.entry.genome is not None]
    out: list[Path | None] = [None] * len(models)
    if stacked:
        together = population_paths(
            [models[i] for i in stacked],
            [contenders_[i].entry.genome for i in stacked],  # type: ignore[misc]
            [contenders_[i].label for i in stacked],
            loss_of,
            steps,
            limit,
        )
        for i, path in zip(stacked, together, strict=True):
            out[i] = path
    for i, (model, c) in enumerate(zip(models, contenders_, strict=True)):
        if out[i] is None:
            out[i] = trace(model, loss_of, c.entry, steps, c.label, limit)
    return out  # type: ignore[return-value]


def _escape_count(optimizer: torch.optim.Optimizer) -> int:
    """ALME's escape count (0 for optimizers without escapes)."""
    stats = getattr(optimizer, "get_stats", None)
    return int(stats().get("escape_count", 0)) if callable(stats) else 0
