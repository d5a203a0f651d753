"""evo.evidence.stats against hand-computed cases."""

from __future__ import annotations

import pytest

from evo.evidence.stats import bootstrap_ci, paired_comparison, sign_test_p, summarize


@pytest.mark.parametrize(
    ("wins", "losses", "p"),
    [
        (0, 0, 1.0),
        (3, 0, 2 / 8),  # 2 * P(X <= 0), X ~ Bin(3, 1/2)
        (5, 0, 2 / 32),
        (0, 5, 2 / 32),
        (9, 1, 2 * (1 + 10) / 1024),  # 2 * (C(10,0) + C(10,1)) / 2^10
        (2, 2, 1.0),  # 2 * (1 + 4 + 6) / 16 > 1 -> clipped
        (7, 3, 2 * (1 + 10 + 45 + 120) / 1024),
    ],
)
def test_sign_test_matches_the_binomial_by_hand(wins, losses, p):
    assert sign_test_p(wins, losses) == pytest.approx(p, abs=1e-15)


def test_bootstrap_of_equal_differences_is_that_difference():
    assert bootstrap_ci([0.25, 0.25, 0.25]) == (0.25, 0.25)


def test_bootstrap_of_two_values_spans_them():
    # resampled means of {0, 1} are 0, 1/2, 1 with probabilities 1/4, 1/2, 1/4:
    # the 2.5th percentile is 0 and the 97.5th is 1
    assert bootstrap_ci([0.0, 1.0]) == (0.0, 1.0)


def test_bootstrap_is_fixed_by_its_seed():
    diffs = [0.3, -0.1, 0.2, 0.05, 0.4]
    assert bootstrap_ci(diffs) == bootstrap_ci(diffs)
    assert bootstrap_ci(diffs, seed=1) != bootstrap_ci(diffs, seed=2)
    low, high = bootstrap_ci(diffs)
    assert min(diffs) <= low < sum(diffs) / 5 < high <= max(diffs)


def test_paired_comparison_per_task_by_hand():
    a = {("x", 0): 0.9, ("x", 1): 0.8, ("x", 2): 0.7, ("y", 0): 0.5, ("y", 1): 0.5, ("z", 0): 1.0}
    b = {("x", 0): 0.6, ("x", 1): 0.6, ("x", 2): 0.7, ("y", 0): 0.6, ("y", 1): 0.7, ("w", 0): 0.0}
    stats = paired_comparison(a, b)
    assert list(stats) == ["x", "y"]  # z and w have no pair
    x, y = stats["x"], stats["y"]
    assert (x.n, x.wins, x.ties, x.losses) == (3, 2, 1, 0)
    assert x.mean_diff == pytest.approx((0.3 + 0.2 + 0.0) / 3)
    assert x.sign_p == pytest.approx(0.5)  # 2 of 2 non-tied pairs: 2 / 4
    assert (y.wins, y.ties, y.losses) == (0, 0, 2)
    assert y.mean_diff == pytest.approx(-0.15)
    assert y.ci_low == pytest.approx(-0.2) and y.ci_high == pytest.approx(-0.1)
    # x: a resample of three zeros (the tie) has probability 1/27 > 2.5%, so the interval of
    # x starts at 0 and x is better but not significantly so
    assert x.ci_low == 0.0 and x.ci_high == pytest.approx(0.3)
    summary = summarize(stats)
    assert (summary.better, summary.significant, summary.n_tasks) == (1, 0, 2)
    assert summary.text() == "better on 1 of 2 tasks (significant on 0)"


def test_significant_when_every_difference_is_positive():
    a = {("t", s): v for s, v in enumerate([0.3, 0.2, 0.4])}
    b = {("t", s): 0.0 for s in range(3)}
    (stats,) = paired_comparison(a, b).values()
    assert stats.better and stats.ci_low >= 0.2 and stats.significant
    assert summarize({"t": stats}).text() == "better on 1 of 1 tasks (significant on 1)"
