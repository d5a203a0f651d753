"""Normalised multi-task fitness: one landscape must not dominate the mean (``fitness.normalize``).

Seed fitness f(e, t, s) of entry e on task t and seed s, task mean
:math:`\\bar f(e, t) = \\frac1{|S|} \\sum_s f(e, t, s)`. Over the entries E being compared
(a generation's population; only *complete* entries with finite values take part, the
others get NaN and rank last in the GA):

``none`` (default, the seed's): :math:`F(e) = \\frac1{|T|} \\sum_t \\bar f(e, t)`
(:func:`evo.search.aggregation.genome_fitness`, unchanged).

``reference``: with r(t, s) the reference entry's seed fitness (``fitness.reference``,
lr-tuned when ``fixed_lr_grid`` is on) and the task's spread

.. math::

    \\sigma_t = \\max\\Big(\\operatorname{std}_{e \\in E} \\bar f(e, t),\\; \\sigma_{min}\\Big), \\qquad
    F(e) = \\frac1{|T|} \\sum_t \\frac1{|S|} \\sum_s \\frac{f(e, t, s) - r(t, s)}{\\sigma_t}

(population std, ddof 0; :data:`SPREAD_FLOOR` = 0.01 fitness units keeps a task on which
every entry scores the same from blowing up). F > 0: better than the reference on average,
in units of the task's spread across the generation.

``rank``: per task, the mid-rank of :math:`\\bar f(e, t)` among the n entries of E scaled to
[0, 1],

.. math::

    \\rho(e, t) = \\frac{\\#\\{e' : \\bar f(e', t) < \\bar f(e, t)\\}
        + \\tfrac12 \\#\\{e' \\ne e : \\bar f(e', t) = \\bar f(e, t)\\}}{n - 1}, \\qquad
    F(e) = \\frac1{|T|} \\sum_t \\rho(e, t)

(0.5 when n = 1). Sums use ``math.fsum``; the result does not depend on the order of E.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

SPREAD_FLOOR = 0.01
"""Smallest task spread sigma_t (fitness units) in the ``reference`` normalisation."""

Normalize = Literal["none", "reference", "rank"]
SeedValues = Mapping[tuple[str, int], float]
"""(task, seed) -> seed fitness of one entry."""


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else math.nan


def complete_task_means(
    values: Mapping[str, SeedValues], tasks: Sequence[str], seeds: Sequence[int]
) -> dict[str, dict[str, float]]:
    """``{key: {task: mean over seeds}}`` of the entries with every (task, seed) stored and finite."""
    means: dict[str, dict[str, float]] = {}
    for key, by_pair in values.items():
        cells = [[by_pair.get((t, s), math.nan) for s in seeds] for t in tasks]
        if all(math.isfinite(v) for row in cells for v in row):
            means[key] = {t: _mean(row) for t, row in zip(tasks, cells, strict=True)}
    return means


def task_spread(task_means: Sequence[float]) -> float:
    """sigma_t: the population std of the task means, at least :data:`SPREAD_FLOOR`."""
    if not task_means:
        return SPREAD_FLOOR
    mean = _mean(task_means)
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in task_means) / len(task_means))
    return max(std, SPREAD_FLOOR)


def mid_rank(value: float, others: Sequence[float]) -> float:
    """rho: (entries below + half the ties) / (n - 1), ``others`` excluding ``value``'s own entry."""
    if not others:
        return 0.5
    below = sum(1 for x in others if x < value)
    ties = sum(1 for x in others if x == value)
    return (below + 0.5 * ties) / len(others)


def normalized_fitness(
    values: Mapping[str, SeedValues],
    tasks: Sequence[str],
    seeds: Sequence[int],
    method: Normalize,
    reference: SeedValues | None = None,
) -> dict[str, float]:
    """``{key: F}`` for every key of ``values`` under ``method`` (see the module doc).

    Args:
        values: the compared entries' seed fitness.
        reference: r(t, s), needed for ``reference`` (a missing pair gives NaN).
    """
    means = complete_task_means(values, tasks, seeds)
    fitness = {key: math.nan for key in values}
    if method == "none":
        fitness.update({key: _mean(list(m.values())) for key, m in means.items()})
        return fitness
    if method == "rank":
        for key, m in means.items():
            fitness[key] = _mean(
                [mid_rank(m[t], [o[t] for k, o in means.items() if k != key]) for t in tasks]
            )
        return fitness
    if reference is None:
        raise ValueError("the 'reference' normalisation needs the reference entry's values")
    spread = {t: task_spread([m[t] for m in means.values()]) for t in tasks}
    for key in means:
        fitness[key] = _mean(
            [
                _mean([(values[key][(t, s)] - reference.get((t, s), math.nan)) / spread[t] for s in seeds])
                for t in tasks
            ]
        )
    return fitness
