"""evo.search.aggregation: seed -> task -> genome fitness, the missing-seed rule, the ranking order."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from evo.search.aggregation import (
    genome_fitness,
    population_stats,
    rank,
    score_entries,
    score_totals,
    task_fitness,
)
from storage.records import EvaluationIn, SeedResult, TaskTotal


def test_task_then_genome_mean() -> None:
    rows = [SeedResult("e", "a", 0, 1.0), SeedResult("e", "a", 1, 0.0), SeedResult("e", "b", 0, 0.2)]
    score = score_entries(rows, ["e"], ["a", "b"], [0, 1])["e"]
    assert score.per_task == pytest.approx({"a": 0.5, "b": 0.2})
    assert score.fitness == pytest.approx(0.35)  # tasks weigh equally, whatever their seeds
    assert not score.complete and score.n_evaluations == 3
    assert math.isnan(task_fitness([]))


def test_fitness_is_mean_over_tasks_of_mean_over_seeds() -> None:
    rng = np.random.default_rng(3)
    keys, tasks, seeds = ["a", "b", "c"], ["t1", "t2", "t3"], [0, 1, 2]
    values = rng.uniform(-1, 1.05, size=(3, 3, 3))  # [entry, task, seed]
    rows = [
        EvaluationIn(entry_key=k, task=t, seed=s, budget_key="b", fitness=float(values[i, j, n]), status="ok")
        for (i, k), (j, t), (n, s) in itertools.product(enumerate(keys), enumerate(tasks), enumerate(seeds))
    ]
    noise = [  # the cache is shared: rows of other seeds and tasks must not count
        EvaluationIn(entry_key="a", task="t1", seed=9, budget_key="b", fitness=100.0, status="ok"),
        EvaluationIn(entry_key="a", task="other", seed=0, budget_key="b", fitness=100.0, status="ok"),
    ]
    got = genome_fitness(rows + noise, [*keys, "never"], tasks, seeds)
    expected = values.mean(axis=2).mean(axis=1)
    np.testing.assert_allclose([got[k] for k in keys], expected, rtol=0, atol=1e-12)
    assert math.isnan(got["never"])
    # ("a", "t1", 0) removed: provisional for ranking, NaN for the GA
    partial = score_entries(rows[1:], ["a"], tasks, seeds)["a"]
    assert not partial.complete and partial.n_evaluations == 8
    assert partial.per_task["t1"] == pytest.approx(values[0, 0, 1:].mean(), abs=1e-12)
    assert partial.fitness == pytest.approx(
        (values[0, 0, 1:].mean() + values[0, 1:].mean(axis=1).sum()) / 3, abs=1e-12
    )
    assert math.isnan(genome_fitness(rows[1:], ["a"], tasks, seeds)["a"])


def test_population_stats_ignore_non_finite_values() -> None:
    stats = population_stats([0.5, math.nan, 0.7, 0.6])
    assert stats.best == 0.7
    assert stats.mean == pytest.approx(0.6, abs=1e-15)
    assert stats.std == pytest.approx(float(np.std([0.5, 0.7, 0.6])), abs=1e-15)
    assert math.isnan(population_stats([math.nan]).best)


def test_rank_puts_complete_first_then_finite_then_best_then_key() -> None:
    """Keys are named so that their alphabetical order is not the fitness order."""
    tasks, seeds = ["t"], [0, 1]
    rows = [
        SeedResult("a_low", "t", 0, 0.1), SeedResult("a_low", "t", 1, 0.1),
        SeedResult("c_tie", "t", 0, 0.5), SeedResult("c_tie", "t", 1, 0.5),
        SeedResult("b_tie", "t", 0, 0.5), SeedResult("b_tie", "t", 1, 0.5),
        SeedResult("z_top", "t", 0, 0.9), SeedResult("z_top", "t", 1, 0.8),
        SeedResult("nan", "t", 0, math.nan), SeedResult("nan", "t", 1, 0.9),
        SeedResult("a_nan", "t", 0, math.nan), SeedResult("a_nan", "t", 1, 0.2),
        SeedResult("half", "t", 0, 1.0),
    ]
    keys = ["a_low", "c_tie", "b_tie", "z_top", "nan", "a_nan", "half", "none"]
    ranked = rank(score_entries(rows, keys, tasks, seeds).values())
    expected = ["z_top", "b_tie", "c_tie", "a_low", "a_nan", "nan", "half", "none"]
    assert [s.entry_key for s in ranked] == expected
    assert math.isnan(ranked[-1].fitness) and ranked[-1].n_evaluations == 0


def test_a_total_over_no_seed_is_no_result() -> None:
    """A (entry, task) total with zero seeds counts as missing, not as a division by zero."""
    scores = score_totals([TaskTotal("k", "t", 0.0, 0, 0)], ["k"], ["t"], [0])
    assert scores["k"].per_task == {} and scores["k"].n_evaluations == 0 and not scores["k"].complete
