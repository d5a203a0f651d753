"""Paired statistics of two entries evaluated on the same tasks and seeds (``scipy.stats``).

evo trains every entry of a (task, seed) from the same initial weights on the same batches,
so entry A's and entry B's values for one (task, seed) form a pair; per task, over its n
seeds, with differences :math:`d_s = a_s - b_s` (positive: A is better, for values where
higher is better, e.g. fitness):

* the effect: the mean difference :math:`\\bar d = \\frac1n \\sum_s d_s`, with its 95%
  paired t-interval :math:`\\bar d \\pm t_{0.975,\\,n-1}\\, s_d / \\sqrt n`
  (:math:`s_d` the sample standard deviation of the differences; ``scipy.stats.ttest_1samp``);
* the paired t-test of :math:`\\bar d = 0`, two-sided (the same call): p below 0.05 exactly
  when the interval excludes 0;
* wins / ties / losses (pairs with :math:`d_s > 0`, :math:`= 0`, :math:`< 0`) and the exact
  two-sided sign test, ties dropped (``scipy.stats.binomtest(wins, wins + losses, 0.5)``).

No test is claimed on fewer than :data:`MIN_SEEDS` pairs: the interval and the t-test are
left out (NaN) and the sentence says ``n = 2: too few seeds to test``. With identical
differences (:math:`s_d = 0`) the interval is the one value and p is 0 (or 1 when it is 0).

A is *significantly better* on a task when the test is claimed and the whole interval lies
above 0. Summary: "better on k of n tasks (significantly on j)". Pairs present in only one
of the two mappings are left out.

scipy is imported inside the functions: the read commands that never compare stay light.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MIN_SEEDS = 5
"""Fewest paired seeds on which an interval and a test are claimed."""
LEVEL = 0.95
METHOD = (
    f"Differences are entry minus baseline, paired by seed; interval: the 95% paired t-interval of the "
    f"mean difference; tests: paired t-test and exact sign test, claimed from n = {MIN_SEEDS} seeds; "
    "significantly better: the whole interval above 0."
)
"""One line saying what the paired numbers are, for a report or a footer."""


@dataclass(frozen=True)
class PairedStats:
    """One task's paired comparison of A against B (differences A - B).

    ``ci_low``, ``ci_high`` and ``t_p`` are NaN when ``n < MIN_SEEDS`` (no test claimed)."""

    task: str
    n: int
    mean_diff: float
    ci_low: float
    ci_high: float
    t_p: float
    wins: int
    ties: int
    losses: int
    sign_p: float

    @property
    def better(self) -> bool:
        return self.mean_diff > 0

    @property
    def testable(self) -> bool:
        """Enough paired seeds to claim an interval and a test."""
        return self.n >= MIN_SEEDS

    @property
    def significant(self) -> bool:
        """Significantly better: the test is claimed and the whole interval lies above 0."""
        return self.testable and self.ci_low > 0

    def sentence(self) -> str:
        """The one wording of an effect, used by every command and the report, e.g.
        ``+0.0320 [+0.0081, +0.0559], t-test p 0.0205, sign test p 0.0625 (W/T/L 5/0/0, n = 5)``
        or ``+0.0320 (W/T/L 2/0/0; n = 2: too few seeds to test)``."""
        record = f"W/T/L {self.wins}/{self.ties}/{self.losses}"
        if not self.testable:
            return f"{self.mean_diff:+.4f} ({record}; {too_few(self.n)})"
        return (
            f"{self.mean_diff:+.4f} [{self.ci_low:+.4f}, {self.ci_high:+.4f}], t-test p {self.t_p:.4f}, "
            f"sign test p {self.sign_p:.4f} ({record}, n = {self.n})"
        )


def too_few(n: int) -> str:
    """``n = 2: too few seeds to test``."""
    return f"n = {n}: too few seeds to test"


@dataclass(frozen=True)
class PairedSummary:
    """How many tasks A is better on, and significantly better on, out of ``n_tasks``.

    ``min_n`` is the fewest paired seeds of any task (0 without tasks)."""

    better: int
    significant: int
    n_tasks: int
    min_n: int = 0

    def text(self) -> str:
        """``better on k of n tasks (significantly on j)``, or, when some task has fewer than
        :data:`MIN_SEEDS` pairs, ``better on k of n tasks (n = 2: too few seeds to test)``."""
        head = f"better on {self.better} of {self.n_tasks} tasks"
        if self.n_tasks and self.min_n < MIN_SEEDS:
            return f"{head} ({too_few(self.min_n)})"
        return f"{head} (significantly on {self.significant})"


def sign_test_p(wins: int, losses: int) -> float:
    """Two-sided exact binomial sign-test p-value (ties already dropped; 1 without pairs)."""
    from scipy.stats import binomtest

    m = wins + losses
    return 1.0 if m == 0 else float(binomtest(wins, m, 0.5).pvalue)


def t_interval(diffs: Sequence[float], level: float = LEVEL) -> tuple[float, float, float]:
    """``(low, high, p)``: the paired t-interval of the mean of ``diffs`` and the two-sided
    t-test p of mean 0 (``scipy.stats.ttest_1samp``). Needs at least 2 values."""
    from scipy.stats import ttest_1samp

    values = [float(d) for d in diffs]
    if len(values) < 2:
        raise ValueError(f"a t-interval needs at least 2 differences, got {len(values)}")
    mean = math.fsum(values) / len(values)
    if all(v == values[0] for v in values):  # s_d = 0: the interval is the value itself
        return mean, mean, 1.0 if mean == 0 else 0.0
    result = ttest_1samp(values, 0.0)
    interval = result.confidence_interval(confidence_level=level)
    return float(interval.low), float(interval.high), float(result.pvalue)


def paired_task(task: str, a: Sequence[float], b: Sequence[float]) -> PairedStats:
    """Paired statistics of values ``a[i]`` vs ``b[i]`` (same seed i) of one task."""
    if len(a) != len(b) or not a:
        raise ValueError(f"task {task!r}: need equally many paired values, got {len(a)} and {len(b)}")
    diffs = [float(x) - float(y) for x, y in zip(a, b, strict=True)]
    n = len(diffs)
    wins, losses = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
    low = high = p = math.nan
    if n >= MIN_SEEDS:
        low, high, p = t_interval(diffs)
    return PairedStats(
        task=task, n=n, mean_diff=math.fsum(diffs) / n, ci_low=low, ci_high=high, t_p=p,
        wins=wins, ties=n - wins - losses, losses=losses, sign_p=sign_test_p(wins, losses),
    )  # fmt: skip


def paired_comparison(
    a: Mapping[tuple[str, int], float], b: Mapping[tuple[str, int], float]
) -> dict[str, PairedStats]:
    """Per task (sorted by name), the paired statistics of ``a`` against ``b``, both keyed by
    ``(task, seed)``; only keys present in both count, tasks without a pair are absent."""
    tasks: dict[str, list[int]] = {}
    for task, seed in sorted(a.keys() & b.keys()):
        tasks.setdefault(task, []).append(seed)
    return {
        task: paired_task(task, [a[(task, s)] for s in seeds], [b[(task, s)] for s in seeds])
        for task, seeds in sorted(tasks.items())
    }


def summarize(stats: Mapping[str, PairedStats]) -> PairedSummary:
    """The summary (better on k of n tasks, significantly on j) of a :func:`paired_comparison`."""
    values = list(stats.values())
    return PairedSummary(
        better=sum(s.better for s in values), significant=sum(s.better and s.significant for s in values),
        n_tasks=len(values), min_n=min((s.n for s in values), default=0),
    )  # fmt: skip
