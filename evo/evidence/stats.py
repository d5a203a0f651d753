"""Paired statistics of two entries evaluated on the same tasks and seeds (pure numpy).

evo trains every entry of a (task, seed) from the same initial weights on the same batches,
so entry A's and entry B's values for one (task, seed) form a pair; per task, over its
seeds, with differences :math:`d_s = a_s - b_s`:

* ``mean_diff`` :math:`\\bar d = \\frac1n \\sum_s d_s` (positive: A is better, for values
  where higher is better, e.g. fitness);
* a 95% percentile bootstrap interval of :math:`\\bar d`: ``n_boot`` resamples of the n
  differences with replacement (``numpy.random.default_rng(seed)``, fixed), the 2.5th and
  97.5th percentiles of their means (with n = 1 the interval is the one difference);
* wins / ties / losses: pairs with :math:`d_s > 0`, :math:`= 0`, :math:`< 0`;
* the two-sided exact sign test (ties dropped): with :math:`m` = wins + losses and
  :math:`k = \\min(\\text{wins}, \\text{losses})`,
  :math:`p = \\min(1, 2 \\sum_{i \\le k} \\binom{m}{i} 2^{-m})` (1 when m = 0).

Summary: "better on k of n tasks (significant on j)": A is better on a task when
``mean_diff > 0`` and significantly better when moreover the bootstrap interval lies above
0 (``ci_low > 0``). With 5 seeds the sign test can never reach p < 0.05 (its smallest
two-sided p is 2/32), which is why significance is read from the interval; ``sign_p`` is
reported next to it. Pairs present in only one of the two mappings are left out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

N_BOOT = 10_000
BOOT_SEED = 0
LEVEL = 0.95


@dataclass(frozen=True)
class PairedStats:
    """One task's paired comparison of A against B (differences A - B)."""

    task: str
    n: int
    mean_diff: float
    ci_low: float
    ci_high: float
    wins: int
    ties: int
    losses: int
    sign_p: float

    @property
    def better(self) -> bool:
        return self.mean_diff > 0

    @property
    def significant(self) -> bool:
        """Significantly better: the whole interval lies above 0."""
        return self.ci_low > 0


@dataclass(frozen=True)
class PairedSummary:
    """How many tasks A is better on, and significantly better on, out of ``n_tasks``."""

    better: int
    significant: int
    n_tasks: int

    def text(self) -> str:
        return f"better on {self.better} of {self.n_tasks} tasks (significant on {self.significant})"


def sign_test_p(wins: int, losses: int) -> float:
    """Two-sided exact binomial sign-test p-value (ties already dropped)."""
    m = wins + losses
    if m == 0:
        return 1.0
    k = min(wins, losses)
    tail = sum(math.comb(m, i) for i in range(k + 1)) / 2**m
    return min(1.0, 2.0 * tail)


def bootstrap_ci(
    diffs: np.ndarray, n_boot: int = N_BOOT, seed: int = BOOT_SEED, level: float = LEVEL
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``diffs`` (fixed-seed resampling)."""
    diffs = np.asarray(diffs, dtype=np.float64)
    if diffs.size == 0:
        raise ValueError("no differences to bootstrap")
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, diffs.size, size=(n_boot, diffs.size))].mean(axis=1)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)


def paired_task(
    task: str, a: list[float], b: list[float], n_boot: int = N_BOOT, seed: int = BOOT_SEED
) -> PairedStats:
    """Paired statistics of values ``a[i]`` vs ``b[i]`` (same seed i) of one task."""
    diffs = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    wins, losses = int((diffs > 0).sum()), int((diffs < 0).sum())
    low, high = bootstrap_ci(diffs, n_boot, seed)
    return PairedStats(
        task=task, n=int(diffs.size), mean_diff=float(diffs.mean()), ci_low=low, ci_high=high,
        wins=wins, ties=int(diffs.size) - wins - losses, losses=losses, sign_p=sign_test_p(wins, losses),
    )  # fmt: skip


def paired_comparison(
    a: Mapping[tuple[str, int], float],
    b: Mapping[tuple[str, int], float],
    n_boot: int = N_BOOT,
    seed: int = BOOT_SEED,
) -> dict[str, PairedStats]:
    """Per task (sorted by name), the paired statistics of ``a`` against ``b``, both keyed by
    ``(task, seed)``; only keys present in both count, tasks without a pair are absent."""
    tasks: dict[str, list[int]] = {}
    for task, seed_ in sorted(a.keys() & b.keys()):
        tasks.setdefault(task, []).append(seed_)
    return {
        task: paired_task(task, [a[(task, s)] for s in seeds], [b[(task, s)] for s in seeds], n_boot, seed)
        for task, seeds in sorted(tasks.items())
    }


def summarize(stats: Mapping[str, PairedStats]) -> PairedSummary:
    """The summary line (better on k of n tasks, significant on j) of a :func:`paired_comparison`."""
    values = list(stats.values())
    return PairedSummary(
        better=sum(s.better for s in values), significant=sum(s.better and s.significant for s in values),
        n_tasks=len(values),
    )  # fmt: skip
