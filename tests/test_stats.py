"""evo.evidence.stats against values computed by hand from the t and binomial formulas."""

from __future__ import annotations

import math

import pytest

from evo.evidence.stats import MIN_SEEDS, paired_comparison, paired_task, sign_test_p, summarize, t_interval


def t_density(x: float, nu: int) -> float:
    """Student's t density: Gamma((nu+1)/2) / (sqrt(nu pi) Gamma(nu/2)) (1 + x^2/nu)^(-(nu+1)/2)."""
    c = math.gamma((nu + 1) / 2) / (math.sqrt(nu * math.pi) * math.gamma(nu / 2))
    return c * (1 + x * x / nu) ** (-(nu + 1) / 2)


def t_cdf(x: float, nu: int, steps: int = 4000) -> float:
    """1/2 + the integral of the density from 0 to x (composite Simpson rule)."""
    h = x / steps
    total = t_density(0, nu) + t_density(x, nu)
    total += sum((4 if i % 2 else 2) * t_density(i * h, nu) for i in range(1, steps))
    return 0.5 + total * h / 3


def t_quantile(q: float, nu: int) -> float:
    """The q-quantile (q > 1/2) by bisection on :func:`t_cdf`."""
    low, high = 0.0, 50.0
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if t_cdf(mid, nu) < q else (low, mid)
    return (low + high) / 2


def by_hand(diffs: list[float]) -> tuple[float, float, float]:
    """Mean +- t_{0.975, n-1} s / sqrt(n), and p = 2 (1 - F(|mean| / (s / sqrt(n))))."""
    n = len(diffs)
    mean = sum(diffs) / n
    s = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    half = t_quantile(0.975, n - 1) * s / math.sqrt(n)
    p = 2 * (1 - t_cdf(abs(mean) / (s / math.sqrt(n)), n - 1))
    return mean - half, mean + half, p


def test_the_hand_t_quantile_is_the_tabulated_one() -> None:
    assert t_quantile(0.975, 4) == pytest.approx(2.7764, abs=1e-4)  # printed t tables, df 4


@pytest.mark.parametrize(
    "diffs",
    [[0.01, 0.02, 0.03, 0.04, 0.06], [0.05, -0.01, 0.02, 0.00, 0.03], [-0.2, -0.1, -0.3, 0.05, -0.15, -0.12]],
)
def test_five_seed_interval_and_test_match_the_t_formula(diffs: list[float]) -> None:
    low, high, p = by_hand(diffs)
    stats = paired_task("t", [0.5 + d for d in diffs], [0.5] * len(diffs))
    assert stats.testable and stats.n == len(diffs)
    assert stats.mean_diff == pytest.approx(sum(diffs) / len(diffs))
    assert (stats.ci_low, stats.ci_high) == (pytest.approx(low, abs=1e-9), pytest.approx(high, abs=1e-9))
    assert stats.t_p == pytest.approx(p, abs=1e-7)
    assert stats.significant == (low > 0)


def test_five_positive_differences_are_significant_and_worded_once() -> None:
    diffs = [0.01, 0.02, 0.03, 0.04, 0.06]
    low, high, p = by_hand(diffs)
    a, b = {("t", s): d for s, d in enumerate(diffs)}, {("t", s): 0.0 for s in range(5)}
    (stats,) = paired_comparison(a, b).values()
    assert stats.significant and low > 0
    assert stats.sign_p == pytest.approx(2 / 2**5)  # 2 P(X <= 0), X ~ Bin(5, 1/2)
    assert stats.sentence() == (
        f"{0.032:+.4f} [{low:+.4f}, {high:+.4f}], t-test p {p:.4f}, sign test p 0.0625 (W/T/L 5/0/0, n = 5)"
    )
    assert summarize({"t": stats}).text() == "better on 1 of 1 tasks (significantly on 1)"


def test_two_seeds_claim_no_significance() -> None:
    """The quick config's two seeds: every difference positive, yet nothing is tested."""
    a = {(t, s): 0.9 + 0.01 * s for t in ("x", "y") for s in (0, 1)}
    b = {(t, s): 0.1 for t in ("x", "y") for s in (0, 1)}
    stats = paired_comparison(a, b)
    assert all(s.better and not s.testable and not s.significant for s in stats.values())
    assert all(math.isnan(s.ci_low) and math.isnan(s.t_p) for s in stats.values())
    assert summarize(stats).text() == "better on 2 of 2 tasks (n = 2: too few seeds to test)"
    assert stats["x"].sentence() == "+0.8050 (W/T/L 2/0/0; n = 2: too few seeds to test)"
    assert MIN_SEEDS == 5


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
def test_sign_test_matches_the_binomial_by_hand(wins: int, losses: int, p: float) -> None:
    assert sign_test_p(wins, losses) == pytest.approx(p, abs=1e-12)


def test_identical_differences_give_a_point_interval() -> None:
    assert t_interval([0.25] * 5) == (0.25, 0.25, 0.0)
    assert t_interval([0.0] * 5) == (0.0, 0.0, 1.0)


def test_pairs_only_where_both_have_the_seed_and_ties_counted() -> None:
    a = {("x", 0): 0.9, ("x", 1): 0.8, ("x", 2): 0.7, ("y", 0): 0.5, ("y", 1): 0.5, ("z", 0): 1.0}
    b = {("x", 0): 0.6, ("x", 1): 0.6, ("x", 2): 0.7, ("y", 0): 0.6, ("y", 1): 0.7, ("w", 0): 0.0}
    stats = paired_comparison(a, b)
    assert list(stats) == ["x", "y"]  # z and w have no pair
    x, y = stats["x"], stats["y"]
    assert (x.n, x.wins, x.ties, x.losses) == (3, 2, 1, 0)
    assert x.mean_diff == pytest.approx((0.3 + 0.2 + 0.0) / 3)
    assert x.sign_p == pytest.approx(0.5)  # 2 of 2 non-tied pairs: 2 / 4
    assert (y.wins, y.ties, y.losses, y.mean_diff) == (0, 0, 2, pytest.approx(-0.15))
    summary = summarize(stats)
    assert (summary.better, summary.significant, summary.n_tasks, summary.min_n) == (1, 0, 2, 2)
