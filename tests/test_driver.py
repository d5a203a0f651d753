"""The run loop: work planning, fitness aggregation, and whole runs on real components.

Runs here use the real store (an SQLite file), the real GA, the real workers and the
inline executor (Ray paths: test_resume.py, test_smoke.py and the actor-kill test below).
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from evo.config.schema import EvaluationConfig, parse_config
from evo.execution.inline import InlineExecutor
from evo.runner.driver import Driver, create_run, fixed_entries
from evo.runner.evaluation_rows import outcome_rows
from evo.runner.events import RunObserver
from evo.runner.work_plan import count_evaluations, plan_requests
from optimizers.baselines import ADAM, SGD_MOMENTUM
from optimizers.genome import Genome, Term
from storage import Store
from storage.records import FIXED_GENERATION, EvaluationIn
from workers.requests import EntrySpec, EvalRequest, MemberResult

TASKS = ["qubic_1d_direct", "six_hump_camel_direct", "digits"]


def tiny_config(**overrides: object) -> dict:
    """A job that runs in a few seconds inline: 3 cheap tasks, 6 genomes, 3 generations."""
    data = {
        "seed": 7,
        "tasks": TASKS,
        "evaluation": {"steps": 5, "seeds": [0, 1], "genomes_per_request": 3, "device": "cpu"},
        "population": {"size": 6, "elites": 2, "tournament_k": 3, "generations": 3},
        "fixed_entries": ["adam", "sgd_momentum", "evo_seed_best"],
        "executor": {"kind": "inline", "max_retries": 0},
    }
    for dotted, value in overrides.items():
        node = data
        *parents, leaf = dotted.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return data


class Recorder(RunObserver):
    """Counts stored rows and keeps the closed generations' stats."""

    def __init__(self) -> None:
        self.rows: list[EvaluationIn] = []
        self.closed: list[tuple[int, float]] = []

    def evaluation_recorded(self, row: EvaluationIn) -> None:
        self.rows.append(row)

    def generation_closed(self, generation, stats, best_so_far) -> None:
        self.closed.append((generation, stats.best))


# -- work planning ----------------------------------------------------------------------
def _genome(i: int) -> Genome:
    return Genome(term_types=(Term.GRAD,), alphas=(1.0,), lr_log10=-3.0 + i / 100)


def test_plan_covers_each_missing_evaluation_exactly_once() -> None:
    rng = random.Random(0)
    specs = {g.hash: EntrySpec.of_genome(g) for g in (_genome(i) for i in range(11))}
    specs["lion_like"] = EntrySpec(key="lion_like", fixed="lion_like")
    triples = [(k, t, s) for k in specs for t in ("a", "b") for s in (0, 1, 2) if rng.random() < 0.7]
    settings = EvaluationConfig(steps=5, genomes_per_request=4)
    requests = plan_requests(triples + triples[:5], specs, settings, prefix="g0")

    produced = [(e.key, r.task, s) for r in requests for e in r.entries for s in r.seeds]
    assert sorted(produced) == sorted(triples)
    assert count_evaluations(requests) == len(triples)
    assert len({r.request_id for r in requests}) == len(requests)
    for r in requests:
        assert 1 <= len(r.entries) <= 4
        kinds = {e.genome is None for e in r.entries}
        assert len(kinds) == 1, "opaque entries never share a request with genomes"
    # the plan is a pure function of its inputs
    again = plan_requests(triples, specs, settings, prefix="g0")
    assert [r.model_dump() for r in again] == [r.model_dump() for r in requests]


def test_plan_groups_entries_missing_the_same_seeds() -> None:
    specs = {g.hash: EntrySpec.of_genome(g) for g in (_genome(i) for i in range(5))}
    keys = list(specs)
    missing = [(k, "t", s) for k in keys for s in (0, 1)] + [(keys[0], "u", 1)]
    requests = plan_requests(missing, specs, EvaluationConfig(steps=3, genomes_per_request=8), prefix="p")
    assert [(r.task, r.seeds, len(r.entries)) for r in requests] == [("t", [0, 1], 5), ("u", [1], 1)]
    assert requests[0].request_id == "p:t:0" and requests[0].steps == 3


# -- aggregation -------------------------------------------------------------------------
def _member(key: str, seed: int, fitness: float, status: str = "ok") -> MemberResult:
    return MemberResult(entry_key=key, seed=seed, status=status, fitness=fitness, accuracy=fitness)


def test_outcome_rows_turn_errors_and_gaps_into_failed_rows() -> None:
    request = EvalRequest(
        request_id="r", entries=[EntrySpec.of_genome(ADAM), EntrySpec.of_genome(SGD_MOMENTUM)],
        task="two_moons", seeds=[0, 1], steps=4,
    )
    rows = outcome_rows(request, None, "boom: actor died 3 times")
    assert len(rows) == 4 and {r.status for r in rows} == {"failed"}
    assert all(r.fitness == -1.0 and r.error == "boom: actor died 3 times" for r in rows)

    members = [_member(ADAM.hash, 0, 0.9), _member(ADAM.hash, 1, -1.0, "diverged"), _member("stray", 0, 0.5)]
    rows = outcome_rows(request, members, None, worker="w", device="cpu")
    by_pair = {(r.entry_key, r.seed): r for r in rows}
    assert set(by_pair) == {(ADAM.hash, 0), (ADAM.hash, 1), (SGD_MOMENTUM.hash, 0), (SGD_MOMENTUM.hash, 1)}
    assert by_pair[(ADAM.hash, 0)].fitness == 0.9 and by_pair[(ADAM.hash, 0)].metrics["accuracy"] == 0.9
    assert by_pair[(ADAM.hash, 1)].status == "diverged"
    assert by_pair[(SGD_MOMENTUM.hash, 1)].status == "failed" and by_pair[(SGD_MOMENTUM.hash, 1)].error
    assert all(r.budget_key == request.budget_key and r.task == "two_moons" for r in rows)


def test_fixed_entries_key_genomes_by_hash_and_opaque_by_name() -> None:
    rows, specs = fixed_entries(["adam", "evo_seed_best", "adam"])
    assert [r.label for r in rows] == ["adam", "evo_seed_best"]
    assert rows[0].entry_key == ADAM.hash and rows[0].origin == "fixed"
    assert set(specs) == {r.entry_key for r in rows}


# -- whole runs ------------------------------------------------------------------------
def run_inline(tmp_path, name: str = "t", **overrides: object):
    cfg = parse_config(tiny_config(**overrides))
    store = Store(f"sqlite:///{tmp_path / 'evo.db'}")
    run = create_run(store, cfg, name)
    recorder = Recorder()
    with InlineExecutor(max_retries=cfg.executor.max_retries) as executor:
        final = Driver(store, run, executor, recorder).run()
    return cfg, store, run, recorder, final


@pytest.fixture(scope="module")
def inline_run(tmp_path_factory):
    """One uninterrupted tiny run, shared by the tests that inspect or compare with it."""
    return run_inline(tmp_path_factory.mktemp("inline"))


def test_inline_run_stores_every_generation_and_scores_from_the_store(inline_run) -> None:
    cfg, store, run, recorder, final = inline_run
    assert store.get_run(run.id).status == "finished"
    assert final.generation == cfg.population.generations
    generations = store.generations(run.id)
    assert [g.index for g in generations] == [0, 1, 2]

    fixed = store.individuals(run.id, FIXED_GENERATION)
    assert [i.label for i in fixed] == cfg.fixed_entries and {i.origin for i in fixed} == {"fixed"}

    # Every distinct (entry, task, seed) of the run was evaluated exactly once: elites and
    # genomes shared with fixed entries come from the cache.
    needed = {i.entry_key for i in fixed}
    for g in range(3):
        individuals = store.individuals(run.id, g)
        assert [i.slot for i in individuals] == list(range(cfg.population.size))
        needed |= {i.entry_key for i in individuals}
        assert store.missing_evaluations(run.id, g) == []
    stored_pairs = [(r.entry_key, r.task, r.seed) for r in recorder.rows]
    assert len(stored_pairs) == len(set(stored_pairs)) == len(needed) * len(TASKS) * 2

    # Elites of generation g+1 are the best of generation g.
    for g in range(2):
        elites = [i for i in store.individuals(run.id, g + 1) if i.origin == "elite"]
        assert len(elites) == cfg.population.elites

    # The closed stats equal a recomputation from the raw rows (a second path).
    for record in generations:
        keys = [i.entry_key for i in store.individuals(run.id, record.index)]
        rows = store.evaluations(list(set(keys)), cfg.budget_key)
        seed_scores = {(r.entry_key, r.task, r.seed): r.fitness for r in rows}
        fitness = [np.mean([np.mean([seed_scores[(k, t, s)] for s in (0, 1)]) for t in TASKS]) for k in keys]
        assert record.best_fitness == pytest.approx(max(fitness), abs=1e-12)
        assert record.mean_fitness == pytest.approx(float(np.mean(fitness)), abs=1e-12)
        assert record.std_fitness == pytest.approx(float(np.std(fitness)), abs=1e-12)
    assert [c[0] for c in recorder.closed] == [0, 1, 2]
    assert final.best_fitness == pytest.approx(max(g.best_fitness for g in generations), abs=1e-12)


def test_failed_evaluations_are_stored_and_the_run_goes_on(tmp_path) -> None:
    """Every request fails in the worker (no CUDA here): rows say why, fitness -1, run ends."""
    if __import__("torch").cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    _, store, run, recorder, _ = run_inline(tmp_path, evaluation__device="cuda", population__generations=2)
    assert store.get_run(run.id).status == "finished"
    assert recorder.rows and all(r.status == "failed" and r.fitness == -1.0 for r in recorder.rows)
    assert all("cuda" in (r.error or "").lower() for r in recorder.rows)
    assert [g.best_fitness for g in store.generations(run.id)] == [-1.0, -1.0]


class CrashAfter(RunObserver):
    def __init__(self, n: int) -> None:
        self.left = n

    def evaluation_recorded(self, row) -> None:
        self.left -= 1
        if self.left == 0:
            raise RuntimeError("simulated crash")


def test_crashed_run_is_marked_failed_and_resumes_to_the_same_end(tmp_path, inline_run) -> None:
    _, ref_store, ref_run, _, ref_final = inline_run

    cfg = parse_config(tiny_config())
    store = Store(f"sqlite:///{tmp_path / 'crash.db'}")
    run = create_run(store, cfg, "t")
    with InlineExecutor(max_retries=0) as executor:
        with pytest.raises(RuntimeError, match="simulated crash"):
            Driver(store, run, executor, CrashAfter(60)).run()
        assert store.get_run(run.id).status == "failed"
        final = Driver(store, store.get_run(run.id), executor).run()
    assert final.model_dump(mode="json") == ref_final.model_dump(mode="json")
    last = cfg.population.generations - 1
    assert [i.model_dump(exclude={"run_id"}) for i in store.individuals(run.id, last)] == [
        i.model_dump(exclude={"run_id"}) for i in ref_store.individuals(ref_run.id, last)
    ]


class KillAnActor(RunObserver):
    """``ray.kill`` one busy evaluation actor when the first result has been stored."""

    def __init__(self, executor) -> None:
        self.executor = executor
        self.killed = 0

    def evaluation_recorded(self, row) -> None:
        if not self.killed:
            import ray

            ray.kill(self.executor.actors[0], no_restart=True)
            self.killed += 1


def test_actor_killed_mid_run_loses_no_evaluation(tmp_path, ray_session) -> None:
    from evo.execution.ray_pool import RayExecutor

    cfg = parse_config(tiny_config(population__generations=1, executor={"kind": "ray", "max_retries": 0}))
    store = Store(f"sqlite:///{tmp_path / 'evo.db'}")
    run = create_run(store, cfg, "kill")
    with RayExecutor(num_actors=2, max_retries=0) as executor:
        killer = KillAnActor(executor)
        Driver(store, run, executor, killer).run()
        assert killer.killed == 1 and executor.replaced_actors >= 1
    assert store.get_run(run.id).status == "finished"
    keys = set()
    for g in (FIXED_GENERATION, 0):
        assert store.missing_evaluations(run.id, g) == []
        keys |= {i.entry_key for i in store.individuals(run.id, g)}
    rows = store.evaluations(sorted(keys), cfg.budget_key)
    assert len(rows) == len(keys) * len(TASKS) * 2
    assert all(r.status != "failed" for r in rows), [r.error for r in rows if r.status == "failed"]
