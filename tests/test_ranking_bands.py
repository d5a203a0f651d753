"""``evo best``'s fast ranking (:mod:`evo.evidence.ranking_bands`) equals ranking every entry exactly.

The reference is :func:`evo.evidence.ranking.rank_entries` without ``run_id`` (every entry's exact
score from its per-task totals, :func:`evo.search.aggregation.rank`); the fast path reads one SQL
estimate per entry and exact totals for the shown blocks only. The stores hold what breaks
a careless version: exact ties (broken by key), values equal up to summation order (the
database's sums and ``math.fsum`` disagree in the last bits), NaN seeds, incomplete entries,
entries without results, fixed entries deep in the ranking and lr-grid points.
"""

from __future__ import annotations

import itertools
import math
import random

import pytest
from store_backends import BACKEND_PARAMS

from evo.evidence.ranking import best, rank_entries
from evo.evidence.ranking_bands import blocks
from optimizers.genome import Genome, Term
from storage import EvaluationIn, IndividualIn, RunScope, Store
from storage.testing import open_test_store

SCOPE = RunScope(tasks=["t1", "t2", "t3", "t4"], seeds=[0, 1, 2], budget_key="steps=5;split=val;v1")
# values whose sums depend on their order: the same multiset on every task of a tied group
TIE_VALUES = [0.1, 0.2, 0.3, 0.7, 1e-3, 0.6, 0.11, 0.13, 0.9, 0.05, 0.33, 0.29]


@pytest.fixture(params=BACKEND_PARAMS)
def store(request: pytest.FixtureRequest, tmp_path) -> Store:
    with open_test_store(request.param, tmp_path) as s:
        yield s


def fill(store: Store, n: int, rng: random.Random, grid: bool) -> int:
    """A run of ``n`` evolved genomes and four fixed entries (two with lr-grid points)."""
    genomes = [
        Genome(term_types=(Term.ADAM_TERM,), alphas=(1.0,), lr_log10=-2.0 - 1e-3 * i) for i in range(n)
    ]
    fixed = ["lion", "alme", "azure_sky", "sgd_plain"]
    grid_labels = ["lion@lr*0.3", "lion@lr*3", "alme@lr*3"] if grid else []
    run = store.create_run("bands", {}, 0, SCOPE)
    fixed_rows = [
        IndividualIn(slot=i, entry_key=k, genome=None, origin="fixed", label=k)
        for i, k in enumerate(fixed + grid_labels)
    ]
    store.save_generation(run.id, -1, fixed_rows)
    population = [
        IndividualIn(slot=i, entry_key=g.hash, genome=g, origin="init", parents=[])
        for i, g in enumerate(genomes)
    ]
    store.save_generation(run.id, 0, population)
    rows = []
    cells = [(t, s) for t in SCOPE.tasks for s in SCOPE.seeds]
    for i, key in enumerate([g.hash for g in genomes] + fixed + grid_labels):
        kind = rng.random()
        if kind < 0.35:  # a tie group: a permutation of the same values
            values = rng.sample(TIE_VALUES, len(TIE_VALUES))
        elif kind < 0.45:  # exactly tied with many others
            values = [-1.0] * len(cells)
        else:
            values = [rng.choice([0.25, 0.5, rng.uniform(-1.0, 1.05)]) for _ in cells]
        for (task, seed), value in zip(cells, values, strict=True):
            u = rng.random()
            if u < 0.03 and i % 7 == 0:
                continue  # a missing seed: incomplete
            if u > 0.99:
                value = math.nan
            if i == 1:
                break  # an entry without any result
            rows.append(EvaluationIn(
                entry_key=key, task=task, seed=seed, budget_key=SCOPE.budget_key, fitness=value,
                status="failed" if math.isnan(value) else "ok",
            ))  # fmt: skip
        rows.append(
            EvaluationIn(
                entry_key=key, task="other", seed=0, budget_key=SCOPE.budget_key, fitness=9.0, status="ok"
            )
        )
    store.record_evaluations(rows)
    return run.id


def same(a: list, b: list) -> bool:
    """Equal rankings (``repr``: NaN fitness equals NaN, which ``==`` on the models denies)."""
    return [repr(e) for e in a] == [repr(e) for e in b]


@pytest.mark.parametrize("seed,grid", [(0, False), (1, True), (2, False), (3, True)])
def test_fast_ranking_equals_the_exact_one(store: Store, seed: int, grid: bool) -> None:
    run_id = fill(store, 120, random.Random(seed), grid)
    entries = store.run_entries(run_id)
    args = (SCOPE.budget_key, SCOPE.tasks, SCOPE.seeds)
    everyone = rank_entries(store, entries, *args, top_k=None)
    assert any(not e.complete for e in everyone) and any(math.isnan(e.fitness) for e in everyone)
    ties = [a.fitness for a, b in itertools.pairwise(everyone) if a.fitness == b.fitness]
    assert ties  # exact ties are present (broken by key)
    for top_k in (1, 3, 10, 40, 200):
        for fixed_too in (False, True):
            exact = rank_entries(store, entries, *args, top_k=top_k, fixed_too=fixed_too)
            fast = best(store, run_id, top_k=top_k, fixed_too=fixed_too)
            assert same(fast, exact), (top_k, fixed_too)
    for task in SCOPE.tasks[:2]:  # one task: other scope, same rule
        exact = rank_entries(store, entries, SCOPE.budget_key, [task], SCOPE.seeds, top_k=5, fixed_too=True)
        assert same(best(store, run_id, top_k=5, task=task, fixed_too=True), exact)


def test_blocks_merge_overlapping_intervals_whatever_their_centres() -> None:
    finite = (False, False)
    estimates = {
        "a": (finite, 0.9, 0.0),
        "b": (finite, 0.8, 0.0),
        "c": (finite, 0.0, math.inf),  # no estimate: overlaps everything of its class
        "d": ((False, True), math.nan, 0.0),
        "e": (finite, 0.8, 0.0),
    }
    assert blocks(list("abcd"), estimates) == [["c", "a", "b"], ["d"]]
    near = {
        "x": (finite, 0.5, 0.1),
        "y": (finite, 0.35, 0.1),
        "z": (finite, 0.1, 0.01),
        "w": (finite, 0.5, 0.0),
    }
    assert blocks(list("xyzw"), near) == [["x", "w", "y"], ["z"]]
    assert blocks(list("abe"), estimates) == [["a"], ["b", "e"]]  # exact ties share a block
