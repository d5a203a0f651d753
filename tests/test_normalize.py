"""Normalised fitness (evo.search.normalize) against hand-computed values."""

from __future__ import annotations

import math

import pytest

from evo.search.normalize import SPREAD_FLOOR, mid_rank, normalized_fitness, task_spread

TASKS = ["a", "b"]
SEEDS = [0, 1]
# entry -> (task, seed) -> seed fitness
VALUES = {
    "x": {("a", 0): 0.9, ("a", 1): 0.7, ("b", 0): 0.10, ("b", 1): 0.10},  # means a 0.8, b 0.10
    "y": {("a", 0): 0.6, ("a", 1): 0.6, ("b", 0): 0.30, ("b", 1): 0.50},  # means a 0.6, b 0.40
    "z": {("a", 0): 0.4, ("a", 1): 0.4, ("b", 0): 0.40, ("b", 1): 0.40},  # means a 0.4, b 0.40
}
REF = {("a", 0): 0.5, ("a", 1): 0.5, ("b", 0): 0.2, ("b", 1): 0.2}


def test_none_is_the_mean_of_task_means() -> None:
    f = normalized_fitness(VALUES, TASKS, SEEDS, "none")
    assert f["x"] == pytest.approx((0.8 + 0.1) / 2)
    assert f["y"] == pytest.approx((0.6 + 0.4) / 2)
    assert f["z"] == pytest.approx(0.4)


def test_reference_by_hand() -> None:
    # task a means 0.8, 0.6, 0.4: std = sqrt((0.04 + 0 + 0.04) / 3) = 0.163299...
    # task b means 0.1, 0.4, 0.4: mean 0.3, std = sqrt((0.04 + 0.01 + 0.01) / 3) = 0.141421...
    sa, sb = math.sqrt(0.08 / 3), math.sqrt(0.06 / 3)
    f = normalized_fitness(VALUES, TASKS, SEEDS, "reference", REF)
    # x: task a ((0.9-0.5) + (0.7-0.5)) / 2 / sa = 0.3 / sa; task b (0.1-0.2) / sb
    assert f["x"] == pytest.approx((0.3 / sa + -0.1 / sb) / 2)
    assert f["y"] == pytest.approx((0.1 / sa + 0.2 / sb) / 2)
    assert f["z"] == pytest.approx((-0.1 / sa + 0.2 / sb) / 2)


def test_rank_by_hand() -> None:
    f = normalized_fitness(VALUES, TASKS, SEEDS, "rank")
    # task a: x > y > z -> 1, 0.5, 0; task b: x lowest (0), y and z tie above x: (1 + 0.5) / 2 = 0.75
    assert f["x"] == pytest.approx((1.0 + 0.0) / 2)
    assert f["y"] == pytest.approx((0.5 + 0.75) / 2)
    assert f["z"] == pytest.approx((0.0 + 0.75) / 2)


def test_one_landscape_cannot_dominate_under_rank() -> None:
    # w is hugely better on task a only, v slightly better on both: 'none' prefers w, 'rank' ties them
    values = {
        "w": {("a", 0): 10.0, ("b", 0): 0.0},
        "v": {("a", 0): 0.1, ("b", 0): 0.1},
    }
    none = normalized_fitness(values, TASKS, [0], "none")
    rank = normalized_fitness(values, TASKS, [0], "rank")
    assert none["w"] > none["v"]
    assert rank["w"] == rank["v"] == 0.5


def test_incomplete_or_nan_entries_get_nan_and_take_no_part() -> None:
    values = dict(VALUES)
    values["partial"] = {("a", 0): 1.0}
    values["nan"] = {("a", 0): math.nan, ("a", 1): 1.0, ("b", 0): 1.0, ("b", 1): 1.0}
    f = normalized_fitness(values, TASKS, SEEDS, "rank")
    assert math.isnan(f["partial"]) and math.isnan(f["nan"])
    assert f["x"] == pytest.approx(0.5)  # unchanged by the two left out


def test_spread_floor_and_mid_rank_edges() -> None:
    assert task_spread([0.5, 0.5, 0.5]) == SPREAD_FLOOR
    assert task_spread([]) == SPREAD_FLOOR
    assert mid_rank(1.0, []) == 0.5
    assert mid_rank(1.0, [0.0, 1.0, 2.0]) == pytest.approx(0.5)


def test_reference_needs_values() -> None:
    with pytest.raises(ValueError, match="reference"):
        normalized_fitness(VALUES, TASKS, SEEDS, "reference")
