"""Fitness as the seed defines it (``evaluate_genome_multi_task``), plus the landscape rules.

Per task and seed, after ``steps`` optimizer steps:

.. math::

    \\text{fitness} = \\begin{cases}
        -1 & \\text{diverged or failed} \\\\
        \\text{acc} + 0.05 \\max(0, 1 - \\bar\\ell_{50}) & \\text{otherwise}
    \\end{cases}

where :math:`\\bar\\ell_{50}` is the mean of the last (up to) 50 training losses. A genome's
fitness is the mean over tasks of the mean over seeds (``evo.search.aggregation``, on the driver).

Divergence is checked on every training loss before its backward pass:

* classification: the loss is NaN/inf or > 50 (the seed's rule);
* landscapes: the training loss is the gap f(x) - f_min >= 0 to the known global minimum;
  the member diverged when it is not finite or exceeds max(50, 10 x its gap at the start)
  (Rastrigin-10D starts with gaps near 100, so a fixed 50 would stop healthy runs).

The landscape "accuracy" is :math:`1 / (1 + \\text{gap})` of the final point, in (0, 1],
1 exactly at a global minimum; its loss bonus uses the same gaps, so a landscape fitness
lies in (0, 1.05] like a classification one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

DIVERGENCE_LOSS = 50.0
DIVERGED_FITNESS = -1.0
LOSS_BONUS_WEIGHT = 0.05
LOSS_WINDOW = 50
LANDSCAPE_GROWTH = 10.0


def mean_last_losses(losses: Sequence[float], window: int = LOSS_WINDOW) -> float | None:
    """Mean of the last ``window`` losses (None for no losses)."""
    tail = list(losses)[-window:]
    return sum(tail) / len(tail) if tail else None


def seed_fitness(accuracy: float, mean_last: float | None) -> float:
    """``accuracy + 0.05 * max(0, 1 - mean_last)`` for a run that did not diverge."""
    bonus = 0.0 if mean_last is None else LOSS_BONUS_WEIGHT * max(0.0, 1.0 - mean_last)
    return accuracy + bonus


def landscape_divergence_bound(start_gap: float) -> float:
    """Largest healthy landscape gap: max(50, 10 x the start gap)."""
    return max(DIVERGENCE_LOSS, LANDSCAPE_GROWTH * start_gap)


def landscape_score(gap: float) -> float:
    """Bounded score of a final gap: 1 / (1 + gap); 0 for a non-finite gap."""
    if not math.isfinite(gap):
        return 0.0
    return 1.0 / (1.0 + max(gap, 0.0))
