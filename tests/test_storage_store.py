"""Contract tests of the Store API, run on every backend (SQLite file; PostgreSQL when configured)."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

import pytest
from store_backends import BACKEND_PARAMS

from evo.evidence.ranking import best
from optimizers.baselines import BASELINE_GENOMES
from optimizers.genome import Genome, Term
from storage import (
    EvaluationIn,
    IndividualIn,
    RunExistsError,
    RunScope,
    StorageError,
    Store,
    TaskNotInRunError,
    UnknownGenomeError,
    UnknownRunError,
)
from storage.testing import open_test_store

SCOPE = RunScope(tasks=["mnist", "digits"], seeds=[0, 1, 2], budget_key="steps=50;split=val;v1")


@pytest.fixture(params=BACKEND_PARAMS)
def store(request: pytest.FixtureRequest, tmp_path) -> Store:
    with open_test_store(request.param, tmp_path) as opened:
        yield opened


def genome(i: int) -> Genome:
    return Genome(term_types=(Term.ADAM_TERM,), alphas=(1.0,), lr_log10=-2.0 - 0.01 * i)


def population(generation: int, n: int = 4, offset: int = 0) -> list[IndividualIn]:
    origin = "init" if generation == 0 else "mutation"
    return [
        IndividualIn(slot=s, entry_key=genome(s + offset).hash, genome=genome(s + offset), origin=origin)
        for s in range(n)
    ]


def evaluation(key: str, task: str, seed: int, fitness: float, status: str = "ok", **kw) -> EvaluationIn:
    fields = {"budget_key": SCOPE.budget_key, "metrics": {"accuracy": fitness}, **kw}
    return EvaluationIn(entry_key=key, task=task, seed=seed, fitness=fitness, status=status, **fields)


def fill(store: Store, keys: list[str], fitness: dict[str, float]) -> None:
    for key in keys:
        for task in SCOPE.tasks:
            for seed in SCOPE.seeds:
                store.record_evaluation(evaluation(key, task, seed, fitness[key]))


# -- runs --------------------------------------------------------------------------------
def test_create_get_list_and_status(store: Store) -> None:
    config = {"population": {"size": 4}, "tasks": ["mnist"], "nested": [1, 2.5, None, "x"]}
    run = store.create_run("alpha", config, 42, SCOPE)
    other = store.create_run("beta", {}, 7, SCOPE)
    assert (run.name, run.config, run.seed, run.scope, run.status) == ("alpha", config, 42, SCOPE, "running")
    assert run.created_at.tzinfo == UTC and abs((datetime.now(UTC) - run.created_at).total_seconds()) < 60
    assert store.get_run("alpha") == run
    assert store.get_run(run.id) == run
    assert store.get_run(str(other.id)) == other
    assert [r.name for r in store.list_runs()] == ["alpha", "beta"]
    for status in ("paused", "finished", "failed", "running"):
        updated = store.set_status(run.id, status)
        assert updated.status == status and store.get_run(run.id).status == status
    assert updated.updated_at >= run.updated_at and updated.created_at == run.created_at
    with pytest.raises(StorageError, match="unknown run status"):
        store.set_status(run.id, "done")  # type: ignore[arg-type]


def test_run_errors(store: Store) -> None:
    store.create_run("alpha", {}, 1, SCOPE)
    with pytest.raises(RunExistsError, match="alpha"):
        store.create_run("alpha", {"other": True}, 2, SCOPE)
    with pytest.raises(UnknownRunError, match="evo runs"):
        store.get_run("nope")
    with pytest.raises(UnknownRunError):
        store.get_run(999)
    with pytest.raises(UnknownRunError):
        store.set_status(999, "paused")
    for bad in ("", "   ", "123", "x" * 201):
        with pytest.raises(StorageError, match="bad run name"):
            store.create_run(bad, {}, 1, SCOPE)
    with pytest.raises(StorageError, match="JSON"):
        store.create_run("gamma", {"x": float("nan")}, 1, SCOPE)
    assert [r.name for r in store.list_runs()] == ["alpha"]


# -- populations ---------------------------------------------------------------------------
def test_save_generation_roundtrip_and_idempotence(store: Store) -> None:
    run = store.create_run("r", {}, 1, SCOPE)
    pop = population(0)
    pop[2] = IndividualIn(
        slot=2, entry_key=pop[1].entry_key, genome=pop[1].genome, origin="init"
    )  # duplicate
    store.save_generation(run.id, 0, pop)
    store.save_generation(run.id, 0, list(reversed(pop)))  # identical content: a no-op
    got = store.individuals(run.id, 0)
    assert [(i.slot, i.entry_key, i.genome, i.origin, i.parents, i.label) for i in got] == [
        (i.slot, i.entry_key, i.genome, i.origin, [], None) for i in pop
    ]
    assert all(i.run_id == run.id and i.generation == 0 for i in got)
    assert store.individuals(run.id, 5) == []

    changed = [*pop[:3], IndividualIn(slot=3, entry_key=genome(9).hash, genome=genome(9), origin="init")]
    with pytest.raises(StorageError, match="different generation 0"):
        store.save_generation(run.id, 0, changed)
    with pytest.raises(StorageError, match="different generation 0"):
        store.save_generation(run.id, 0, pop[:3])
    assert [i.entry_key for i in store.individuals(run.id, 0)] == [i.entry_key for i in pop]
    with pytest.raises(UnknownGenomeError):
        store.genome(genome(9).hash)  # the refused save stored nothing, not even its genome


def test_save_generation_checks(store: Store) -> None:
    run = store.create_run("r", {}, 1, SCOPE)
    pop = population(0)
    with pytest.raises(StorageError, match="duplicate slots"):
        store.save_generation(run.id, 0, [pop[0], pop[0]])
    with pytest.raises(StorageError, match="fixed entries go to generation -1"):
        store.save_generation(run.id, -1, pop)
    fixed = IndividualIn(slot=0, entry_key="lion", genome=None, origin="fixed", label="lion")
    with pytest.raises(StorageError, match="fixed entries go to generation -1"):
        store.save_generation(run.id, 0, [fixed])
    with pytest.raises(StorageError, match="bad generation"):
        store.save_generation(run.id, -2, pop)
    with pytest.raises(UnknownRunError):
        store.save_generation(run.id + 100, 0, pop)
    with pytest.raises(ValueError, match="hash"):
        IndividualIn(slot=0, entry_key="not-the-hash", genome=genome(0), origin="init")
    with pytest.raises(ValueError, match="only fixed entries"):
        IndividualIn(slot=0, entry_key="lion", genome=None, origin="init")
    assert store.individuals(run.id, 0) == [] and store.individuals(run.id, -1) == []


def test_genomes_first_seen_kept_and_prefix_lookup(store: Store) -> None:
    run = store.create_run("r", {}, 1, SCOPE)
    plain = Genome(term_types=(Term.ADAM_TERM,), alphas=(2.0,))
    split = Genome(term_types=(Term.ADAM_TERM, Term.ADAM_TERM), alphas=(1.5, 0.5))  # same update, same hash
    assert plain.hash == split.hash and plain != split
    store.save_generation(
        run.id, 0, [IndividualIn(slot=0, entry_key=plain.hash, genome=plain, origin="init")]
    )
    store.save_generation(
        run.id, 1, [IndividualIn(slot=0, entry_key=split.hash, genome=split, origin="mutation")]
    )
    assert store.genome(plain.hash) == plain  # the first JSON seen is kept
    assert store.individuals(run.id, 1)[0].genome == plain
    assert store.genome(plain.hash[:6].upper()) == plain
    with pytest.raises(UnknownGenomeError, match="at least 6"):
        store.genome(plain.hash[:5])
    with pytest.raises(UnknownGenomeError, match="no genome"):
        store.genome("ffffffffff")
    # Two stored hashes sharing their first 6 characters (a birthday search, ~5k genomes).
    seen: dict[str, Genome] = {}
    i = 0
    while True:
        g = Genome(lr_log10=-3.0 - i * 1e-6)
        twin = seen.setdefault(g.hash[:6], g)
        if twin is not g:
            break
        i += 1
    rows = [
        IndividualIn(slot=k, entry_key=x.hash, genome=x, origin="mutation") for k, x in enumerate((twin, g))
    ]
    store.save_generation(run.id, 2, rows)
    with pytest.raises(UnknownGenomeError, match=f"ambiguous.*{twin.hash}"):
        store.genome(g.hash[:6])
    assert store.genome(g.hash) == g and store.genome(twin.hash) == twin


# -- evaluations -----------------------------------------------------------------------------
@pytest.mark.parametrize("native", [True, False], ids=["on-conflict", "savepoint"])
def test_record_evaluation_is_idempotent_first_write_wins(store: Store, native: bool) -> None:
    store._native_upsert = native
    first = evaluation(
        "k1",
        "mnist",
        0,
        0.9,
        worker="w1",
        device="cpu",
        wall_time_s=1.5,
        metrics={"accuracy": 0.9, "loss": math.inf, "hist": [1.0, math.nan]},
    )
    assert store.record_evaluation(first) is True
    assert store.record_evaluation(evaluation("k1", "mnist", 0, 0.1)) is False
    assert store.record_evaluation(first) is False
    assert store.record_evaluation(evaluation("k1", "mnist", 1, math.nan, "failed", error="boom\ntraceback"))
    assert (
        store.record_evaluations([evaluation("k1", "mnist", 2, 0.5), evaluation("k1", "mnist", 0, 0.2)]) == 1
    )
    rows = store.evaluations(["k1"], SCOPE.budget_key)
    assert [(r.seed, r.status) for r in rows] == [(0, "ok"), (1, "failed"), (2, "ok")]
    assert rows[0].model_dump(exclude={"created_at"}) == first.model_dump()
    assert rows[0].metrics == {"accuracy": 0.9, "loss": None, "hist": [1.0, None]}
    assert math.isnan(rows[1].fitness) and rows[1].error == "boom\ntraceback"
    assert store.evaluations(["k1"], "other-budget") == []


def test_evaluations_filter_and_order(store: Store) -> None:
    for key in ("b", "a"):
        for task in ("mnist", "digits", "cifar10"):
            for seed in (1, 0):
                store.record_evaluation(evaluation(key, task, seed, 0.5))
    rows = store.evaluations(["b", "a", "zz"], SCOPE.budget_key, tasks=["mnist", "digits"])
    assert [(r.entry_key, r.task, r.seed) for r in rows] == [
        (k, t, s) for k in ("b", "a") for t in ("digits", "mnist") for s in (0, 1)
    ]
    assert len(store.evaluations(["a"], SCOPE.budget_key)) == 6
    assert store.evaluations([], SCOPE.budget_key) == []


def test_missing_evaluations(store: Store) -> None:
    run = store.create_run("r", {}, 1, SCOPE)
    pop = population(0, n=3)
    pop.append(IndividualIn(slot=3, entry_key=pop[0].entry_key, genome=pop[0].genome, origin="init"))
    store.save_generation(run.id, 0, pop)
    keys = [p.entry_key for p in pop[:3]]
    expected = [(k, t, s) for k in keys for t in SCOPE.tasks for s in SCOPE.seeds]
    assert store.missing_evaluations(run.id, 0) == expected
    done = {expected[1], expected[7], expected[-1]}
    store.record_evaluation(evaluation(*expected[1], 0.5))
    store.record_evaluation(evaluation(*expected[7], -1.0, "diverged"))
    store.record_evaluation(evaluation(*expected[-1], math.nan, "failed", error="x"))
    store.record_evaluation(
        EvaluationIn(entry_key=keys[0], task="mnist", seed=0, budget_key="steps=9", fitness=0.1, status="ok")
    )  # another budget: does not count
    store.record_evaluation(evaluation(keys[0], "cifar10", 0, 0.1))  # outside the scope
    assert store.missing_evaluations(run.id, 0) == [m for m in expected if m not in done]
    assert store.missing_evaluations(run.id, 7) == []
    with pytest.raises(UnknownRunError):
        store.missing_evaluations(run.id + 1, 0)


def test_fixed_entries_missing_and_cache_shared_across_runs(store: Store) -> None:
    adam = BASELINE_GENOMES["adam"]
    fixed = [
        IndividualIn(slot=0, entry_key=adam.hash, genome=adam, origin="fixed", label="adam"),
        IndividualIn(slot=1, entry_key="lion", genome=None, origin="fixed", label="lion"),
    ]
    first = store.create_run("first", {}, 1, SCOPE)
    store.save_generation(first.id, -1, fixed)
    store.save_generation(first.id, -1, fixed)
    assert [(i.entry_key, i.label, i.genome) for i in store.individuals(first.id, -1)] == [
        (adam.hash, "adam", adam),
        ("lion", "lion", None),
    ]
    for key, task, seed in store.missing_evaluations(first.id, -1):
        store.record_evaluation(evaluation(key, task, seed, 0.7))
    second = store.create_run("second", {}, 2, SCOPE)
    store.save_generation(second.id, -1, fixed)
    assert store.missing_evaluations(second.id, -1) == []  # the cache serves every run


# -- generations ---------------------------------------------------------------------------
def test_close_generation(store: Store) -> None:
    run = store.create_run("r", {}, 1, SCOPE)
    assert store.last_complete_generation(run.id) is None and store.generations(run.id) == []
    state = {"bit_generator": "PCG64", "state": {"state": 2**127 + 12345, "inc": 2**64 + 1}, "list": [1, 2]}
    with pytest.raises(StorageError, match="save_generation comes first"):
        store.close_generation(run.id, 0, 1.0, 0.5, 0.1, state)
    for g in range(3):
        store.save_generation(run.id, g, population(g))
    closed = [store.close_generation(run.id, g, 1.0 + g, 0.5, math.nan, {**state, "g": g}) for g in (0, 1)]
    assert closed[0].ga_state == {**state, "g": 0}  # 128-bit integers survive exactly
    assert (closed[1].index, closed[1].best_fitness, closed[1].mean_fitness) == (1, 2.0, 0.5)
    assert math.isnan(closed[1].std_fitness)
    again = store.close_generation(run.id, 1, 2.0, 0.5, math.nan, {**state, "g": 1})
    assert again == closed[1]
    with pytest.raises(StorageError, match="already closed"):
        store.close_generation(run.id, 1, 2.5, 0.5, math.nan, {**state, "g": 1})
    with pytest.raises(StorageError, match="already closed"):
        store.close_generation(run.id, 1, 2.0, 0.5, math.nan, {**state, "g": 99})
    with pytest.raises(StorageError, match="JSON"):
        store.close_generation(run.id, 2, 1.0, 1.0, 0.0, {"x": object()})
    with pytest.raises(StorageError, match="start at 0"):
        store.close_generation(run.id, -1, 1.0, 1.0, 0.0, {})
    assert store.last_complete_generation(run.id) == closed[1]
    assert store.generations(run.id) == closed


# -- best ------------------------------------------------------------------------------------
def test_best_ranks_fixed_entries_alongside(store: Store) -> None:
    run = store.create_run("r", {}, 1, SCOPE)
    pop = population(0, n=3)
    store.save_generation(run.id, 0, pop)
    adam = BASELINE_GENOMES["adam"]
    store.save_generation(
        run.id,
        -1,
        [
            IndividualIn(slot=0, entry_key=adam.hash, genome=adam, origin="fixed", label="adam"),
            IndividualIn(slot=1, entry_key="lion", genome=None, origin="fixed", label="lion"),
        ],
    )
    keys = [p.entry_key for p in pop]
    fitness = {keys[0]: 0.4, keys[1]: 0.8, keys[2]: 0.6, adam.hash: 0.7, "lion": 0.8}
    fill(store, [*keys, adam.hash, "lion"], fitness)
    store.record_evaluation(evaluation(keys[0], "mnist", 0, 0.0, budget_key="steps=1"))  # other budget
    ranked = best(store, run.id, top_k=10)
    assert [r.entry_key for r in ranked] == [*sorted([keys[1], "lion"]), adam.hash, keys[2], keys[0]]
    by_key = {r.entry_key: r for r in ranked}
    assert [r.rank for r in ranked] == [1, 2, 3, 4, 5]
    assert by_key["lion"].is_fixed and by_key["lion"].label == "lion" and by_key["lion"].genome is None
    assert by_key[adam.hash].genome == adam and by_key[adam.hash].label == "adam"
    assert not by_key[keys[1]].is_fixed and by_key[keys[1]].genome == pop[1].genome
    assert all(r.complete and r.n_evaluations == 6 for r in ranked)
    assert by_key[keys[2]].per_task == pytest.approx({"mnist": 0.6, "digits": 0.6})
    assert [r.entry_key for r in best(store, run.id, top_k=2)] == [r.entry_key for r in ranked[:2]]
    assert len(best(store, run.id, top_k=None)) == 5
    with pytest.raises(TaskNotInRunError, match="mnist"):
        best(store, run.id, task="cifar10")
    with pytest.raises(StorageError, match="top_k"):
        best(store, run.id, top_k=0)


def reference_ranking(store: Store, run_id: int, task: str | None) -> list[tuple[str, bool, float]]:
    """Brute force from the records: (key, complete, fitness) best first."""
    scope = store.get_run(run_id).scope
    tasks = [task] if task else scope.tasks
    keys = sorted({i.entry_key for g in (-1, 0, 1) for i in store.individuals(run_id, g)})
    rows = [r for r in store.evaluations(keys, scope.budget_key) if r.task in tasks and r.seed in scope.seeds]
    result = []
    for key in keys:
        per_task = []
        for t in tasks:
            values = [r.fitness for r in rows if r.entry_key == key and r.task == t]
            if values:
                per_task.append(sum(values) / len(values))
        fitness = sum(per_task) / len(per_task) if per_task else math.nan
        complete = sum(1 for r in rows if r.entry_key == key) == len(tasks) * len(scope.seeds)
        result.append((key, complete, fitness))
    result.sort(key=lambda x: (not x[1], math.isnan(x[2]), -x[2] if not math.isnan(x[2]) else 0, x[0]))
    return result


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_best_matches_brute_force(store: Store, seed: int) -> None:
    rng = random.Random(seed)
    run = store.create_run("r", {}, 1, SCOPE)
    store.save_generation(run.id, 0, population(0, n=6))
    store.save_generation(run.id, 1, population(1, n=6, offset=3))
    keys = sorted({i.entry_key for g in (0, 1) for i in store.individuals(run.id, g)})
    for key in keys:
        for task in [*SCOPE.tasks, "cifar10"]:
            for s in [*SCOPE.seeds, 9]:
                if rng.random() < 0.8:
                    value = rng.choice([0.5, 0.25, -1.0, math.nan]) if rng.random() < 0.3 else rng.random()
                    store.record_evaluation(evaluation(key, task, s, value))
    for task in (None, "digits"):
        got = [(r.entry_key, r.complete, r.fitness) for r in best(store, run.id, top_k=None, task=task)]
        want = reference_ranking(store, run.id, task)
        assert [g[:2] for g in got] == [w[:2] for w in want]
        assert [g[2] for g in got] == pytest.approx([w[2] for w in want], nan_ok=True)
