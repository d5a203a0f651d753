"""The store's GROUP BY totals give the same fitness as the per-seed rows, on every backend.

:func:`evo.search.aggregation.score_entries` (seed rows from :meth:`Store.seed_results`, reduced in
Python with ``math.fsum``) and :func:`evo.search.aggregation.score_totals` over
:meth:`Store.task_totals` (SQL ``SUM``/``COUNT``) read the same stored rows: missing seeds,
NaN (failed) seeds, incomplete entries, entries without results and rows outside the scope
(other tasks, seeds, budget keys) included. Also via a run (``run_id``) and through
:func:`evo.evidence.ranking.best` against a ranking built from the seed rows.
"""

from __future__ import annotations

import math
import random

import pytest
from store_backends import BACKEND_PARAMS

from evo.evidence.ranking import best
from evo.search.aggregation import rank, score_entries, score_totals
from optimizers.genome import Genome, Term
from storage import EvaluationIn, IndividualIn, RunScope, Store
from storage.testing import open_test_store

SCOPE = RunScope(tasks=["t1", "t2", "t3"], seeds=[0, 1, 2], budget_key="steps=5;split=val;v1")


@pytest.fixture(params=BACKEND_PARAMS)
def store(request: pytest.FixtureRequest, tmp_path) -> Store:
    with open_test_store(request.param, tmp_path) as s:
        yield s


def fill(store: Store, n: int, rng: random.Random) -> list[str]:
    """A run of ``n`` genomes with a random mix of present, missing and NaN seeds; their keys."""
    genomes = [
        Genome(term_types=(Term.ADAM_TERM,), alphas=(1.0,), lr_log10=-2.0 - 0.01 * i) for i in range(n)
    ]
    run = store.create_run("totals", {}, 0, SCOPE)
    store.save_generation(
        run.id,
        0,
        [
            IndividualIn(slot=i, entry_key=g.hash, genome=g, origin="init", parents=[])
            for i, g in enumerate(genomes)
        ],
    )
    rows = []
    for g in genomes:
        for task in [*SCOPE.tasks, "other_task"]:
            for seed in [*SCOPE.seeds, 7]:
                u = rng.random()
                if u < 0.2:
                    continue  # missing seed
                fitness = math.nan if u < 0.3 else rng.uniform(-1.0, 1.05)
                status = "failed" if math.isnan(fitness) else "ok"
                for budget in (SCOPE.budget_key, "steps=9;split=val;v1"):
                    rows.append(
                        EvaluationIn(
                            entry_key=g.hash,
                            task=task,
                            seed=seed,
                            budget_key=budget,
                            fitness=fitness if budget == SCOPE.budget_key else 5.0,
                            status=status,
                        )
                    )
    store.record_evaluations(rows)
    return [g.hash for g in genomes]


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-12


@pytest.mark.parametrize("seed", [0, 1])
def test_totals_and_seed_rows_give_the_same_scores(store: Store, seed: int) -> None:
    keys = fill(store, 40, random.Random(seed))
    keys_all = [*keys, "never_evaluated"]
    args = (SCOPE.budget_key, SCOPE.tasks, SCOPE.seeds)
    per_seed = score_entries(store.seed_results(keys_all, *args), keys_all, SCOPE.tasks, SCOPE.seeds)
    run_id = store.get_run("totals").id
    for totals in (store.task_totals(keys_all, *args), store.task_totals([], *args, run_id=run_id)):
        grouped = score_totals(totals, keys_all, SCOPE.tasks, SCOPE.seeds)
        assert grouped.keys() == per_seed.keys()
        for key in keys_all:
            a, b = per_seed[key], grouped[key]
            assert (a.n_evaluations, a.complete, list(a.per_task)) == (
                b.n_evaluations,
                b.complete,
                list(b.per_task),
            )
            assert same(a.fitness, b.fitness), key
            assert all(same(a.per_task[t], b.per_task[t]) for t in a.per_task), key
    kinds = {(s.complete, math.isnan(s.fitness)) for s in per_seed.values()}
    assert {(False, True), (False, False)} <= kinds  # the mix covers NaN and incomplete entries
    ranked = [(r.entry_key, r.fitness) for r in best(store, "totals", top_k=None)]
    expected = [(s.entry_key, s.fitness) for s in rank(per_seed[k] for k in keys)]
    assert [k for k, _ in ranked] == [k for k, _ in expected]
    assert all(same(a, b) for (_, a), (_, b) in zip(ranked, expected, strict=True))
