"""The task funnel combined with lr-robust fitness, reference normalisation and the functional
fingerprint (evo.search.funnel with evo.search.lr_variants, evo.search.normalize, evo.search.dedup):
promotion order with
lr variants, normalised rung fitness by hand from stored rows, duplicates climbing once, and
exact resume after SIGKILL."""

from __future__ import annotations

import math
import sqlite3
import statistics
from pathlib import Path

import pytest

from evo.config.schema import parse_config
from evo.evidence.ranking import best
from evo.runner.driver import Driver, create_run, find_run
from evo.search.dedup import REUSED_WORKER
from evo.search.funnel import Rung, climb, rungs
from evo.search.ga import Individual
from evo.search.lr_variants import fixed_variant
from optimizers.entry import scaled_genome
from optimizers.fingerprint import fingerprint
from storage import Store
from tests.funnel_helpers import COMBINED, DUPLICATED, CountingExecutor, DuplicatingGA, kill_during

NO_FINGERPRINT = {
    **COMBINED,
    "evaluation": {**COMBINED["evaluation"], "fingerprint": False},
    "population": {**COMBINED["population"], "size": 8},
}
RANKED = {**NO_FINGERPRINT, "fitness": {"normalize": "rank"}}


def run_combined(url: str, config: dict, *, duplicates: bool) -> tuple[Store, CountingExecutor]:
    store = Store(url)
    cfg = parse_config(config)
    run = create_run(store, cfg, "f")
    executor = CountingExecutor()
    with executor:
        driver = Driver(store, run, executor, cfg=cfg)
        if duplicates:
            driver.ga = DuplicatingGA(cfg.population)
        driver.run()
    return store, executor


@pytest.fixture(scope="module")
def variants_run(tmp_path_factory):
    """Funnel + lr_multipliers (mean) + normalize: reference, no fingerprint."""
    return run_combined(
        f"sqlite:///{tmp_path_factory.mktemp('fv') / 'evo.db'}", NO_FINGERPRINT, duplicates=False
    )


@pytest.fixture(scope="module")
def ranked_run(tmp_path_factory):
    """Funnel + lr_multipliers (mean) + normalize: rank."""
    return run_combined(f"sqlite:///{tmp_path_factory.mktemp('fr') / 'evo.db'}", RANKED, duplicates=False)


@pytest.fixture(scope="module")
def combined_run(tmp_path_factory):
    """All four together, with fingerprint duplicates planted in generation 0."""
    path = tmp_path_factory.mktemp("fc") / "evo.db"
    return (*run_combined(f"sqlite:///{path}", COMBINED, duplicates=True), path)


# -- the hand computation ------------------------------------------------------------------
def stored(store: Store, keys: list[str], rung: Rung) -> dict[str, dict[tuple[str, int], float]]:
    rows = store.evaluations(keys, rung.budget_key, tasks=rung.cfg.tasks)
    out: dict[str, dict[tuple[str, int], float]] = {}
    for r in rows:
        out.setdefault(r.entry_key, {})[(r.task, r.seed)] = r.fitness
    return out


def hand_fitness(store: Store, rung: Rung, genomes: dict, *, only_m1: bool = False) -> dict[str, float]:
    """F(e) of evo.search.normalize's ``reference`` formula over the entries ``genomes`` (key -> genome),
    each the mean of its lr variants, against lr-tuned AdamW, all read from the rung's rows
    (``rank``: the mean over tasks of the entry's mid-rank among them, scaled to [0, 1])."""
    cfg = rung.cfg
    tasks, seeds = cfg.tasks, cfg.evaluation.seeds
    ms = [1.0] if only_m1 else cfg.evaluation.lr_multipliers
    keys = {k: [k if m == 1 else scaled_genome(g, m).hash for m in ms] for k, g in genomes.items()}
    ref_keys = [fixed_variant("adamw", m)[0] for m in cfg.fixed_lr_grid]
    rows = stored(store, [v for vs in keys.values() for v in vs] + ref_keys, rung)
    f = {
        k: {(t, s): sum(rows[v][(t, s)] for v in vs) / len(vs) for t in tasks for s in seeds}
        for k, vs in keys.items()
    }
    task_mean = {k: {t: sum(v[(t, s)] for s in seeds) / len(seeds) for t in tasks} for k, v in f.items()}
    if cfg.fitness.normalize == "rank":
        others = {k: {t: [o[t] for j, o in task_mean.items() if j != k] for t in tasks} for k in task_mean}
        return {
            k: sum(
                (sum(x < m[t] for x in others[k][t]) + 0.5 * sum(x == m[t] for x in others[k][t]))
                / len(others[k][t])
                for t in tasks
            )
            / len(tasks)
            for k, m in task_mean.items()
        }
    reference = {}
    for t in tasks:
        means = [sum(rows[r][(t, s)] for s in seeds) / len(seeds) for r in ref_keys]
        chosen = ref_keys[means.index(max(means))]
        reference.update({(t, s): rows[chosen][(t, s)] for s in seeds})
    spread = {t: max(statistics.pstdev([m[t] for m in task_mean.values()]), 0.01) for t in tasks}
    return {
        k: sum(sum((v[(t, s)] - reference[(t, s)]) / spread[t] for s in seeds) / len(seeds) for t in tasks)
        / len(tasks)
        for k, v in f.items()
    }


def refuse_training(cfg, missing, prefix):
    assert not missing, f"the stored run lacks {missing[:3]}"


def replayed(store: Store, config: dict, g: int):
    """(population, climb result) of generation ``g`` recomputed from the store alone."""
    cfg = parse_config(config)
    run = store.get_run("f")
    driver = Driver(store, run, CountingExecutor(), cfg=cfg)
    driver._replay_fingerprints(g + 1)  # the index as generation g climbed with it
    population = [Individual(genome=r.genome, origin=r.origin) for r in store.individuals(run.id, g)]
    result = climb(
        store, population, rungs(cfg), refuse_training, fixed=set(driver.fixed_specs), dedup=driver.dedup
    )
    return population, result


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


# -- promotion with lr variants, normalised against the tuned reference --------------------
@pytest.mark.parametrize(("run", "config"), [("variants_run", NO_FINGERPRINT), ("ranked_run", RANKED)])
def test_rungs_promote_by_the_variants_mean_normalised_as_configured(request, run, config) -> None:
    """normalize: reference (against lr-tuned AdamW) and rank, both over the lr variants' mean."""
    store, _executor = request.getfixturevalue(run)
    cfg = parse_config(config)
    low, top = rungs(cfg)
    fixed = {fixed_variant(n, m)[0] for n in cfg.fixed_entries for m in cfg.fixed_lr_grid}
    at_top = set(fixed)
    order_differs_from_m1 = False
    for g in range(cfg.population.generations):
        population, result = replayed(store, config, g)
        first = {}
        for ind in population:
            first.setdefault(ind.key, ind)
        exempt = {k for k, i in first.items() if (i.origin == "elite" or k in fixed) and k in at_top}
        climbers = [k for k in first if k not in exempt]
        hand = hand_fitness(store, low, {k: first[k].genome for k in climbers})
        n = math.ceil(len(climbers) / 2)
        expected = sorted(
            sorted(climbers, key=lambda k: (-hand[k], climbers.index(k)))[:n], key=climbers.index
        )
        assert [k for k in climbers if result.levels[k] == 1] == expected
        for k in climbers:
            if result.levels[k] == 0:
                assert close(result.scores[k], hand[k])
        reached = [k for k in first if result.levels[k] == 1]
        hand_top = hand_fitness(store, top, {k: first[k].genome for k in reached})
        assert all(close(result.told[k], hand_top[k]) for k in reached)  # the top keeps its real fitness
        m1 = hand_fitness(store, low, {k: first[k].genome for k in climbers}, only_m1=True)
        order_differs_from_m1 |= set(sorted(climbers, key=lambda k: -m1[k])[:n]) != set(expected)
        at_top |= set(reached)
    assert order_differs_from_m1  # the variants change who climbs: the test can see them ignored


def test_every_rung_scores_the_tuned_reference_once_on_its_own_tasks_seeds_and_steps(variants_run) -> None:
    store, executor = variants_run
    cfg = parse_config(NO_FINGERPRINT)
    ref_keys = [fixed_variant("adamw", m)[0] for m in cfg.fixed_lr_grid]
    for rung in rungs(cfg):
        rows = stored(store, ref_keys, rung)
        for k in ref_keys:
            assert set(rows[k]) == {(t, s) for t in rung.cfg.tasks for s in rung.cfg.evaluation.seeds}
    assert len(executor.trained) == len(set(executor.trained))  # nothing trained twice


def test_climbers_train_every_variant_on_each_rung_they_reach_and_no_further(variants_run) -> None:
    store, _executor = variants_run
    cfg = parse_config(NO_FINGERPRINT)
    low, top = rungs(cfg)
    g = cfg.population.generations - 1
    population, result = replayed(store, NO_FINGERPRINT, g)
    for ind in population:
        variants = [
            ind.key if m == 1 else scaled_genome(ind.genome, m).hash for m in cfg.evaluation.lr_multipliers
        ]
        at_top = stored(store, variants, top)
        if result.levels[ind.key] == 1:
            assert all(len(at_top.get(v, {})) == 6 for v in variants)
        elif ind.origin != "elite":
            assert at_top == {}  # stopped at rung 0: nothing trained at full cost
            assert all(len(stored(store, [v], low).get(v, {})) == 2 for v in variants)


# -- fingerprint duplicates -----------------------------------------------------------------
def test_a_fingerprint_duplicate_climbs_with_its_representative_and_trains_nothing(combined_run) -> None:
    store, executor, _path = combined_run
    cfg = parse_config(COMBINED)
    low, top = rungs(cfg)
    population, result = replayed(store, COMBINED, 0)
    trained = {t[0] for t in executor.trained}
    for slot, source in DUPLICATED.items():
        dup, rep = population[slot].key, population[source].key
        assert dup != rep and fingerprint(population[slot].genome) == fingerprint(population[source].genome)
        assert dup not in trained
        assert result.levels[dup] == result.levels[rep] and result.told[dup] == result.told[rep]
        for rung in (low, top):
            rows = {(r.task, r.seed): r for r in store.evaluations([dup], rung.budget_key)}
            reps = {(r.task, r.seed): r.fitness for r in store.evaluations([rep], rung.budget_key)}
            if rung is low and rep in {fixed_variant(n, 1.0)[0] for n in cfg.fixed_entries}:
                assert rows == {}  # a fixed entry's copy sits at the top with it: it never climbs
                continue
            assert {p: r.fitness for p, r in rows.items()} == {p: reps[p] for p in rows}
            assert all(r.worker == REUSED_WORKER and r.metrics["reused_from"] == rep for r in rows.values())
    units = [population[slot].key for slot in (3, 4, 5)]  # rmsprop, two random genomes; 6 and 7 climb with 4
    assert sum(result.levels[k] == 1 for k in units) == math.ceil(len(units) / 2)  # the pair counted once


# -- exact resume after SIGKILL ---------------------------------------------------------------
def all_rows(path: Path) -> list[tuple]:
    """Every stored result (wall time and worker name aside; a fingerprint copy says so)."""
    with sqlite3.connect(path) as db:
        return sorted(
            db.execute(
                "SELECT entry_key, task, seed, budget_key, fitness, status, worker = ? FROM evaluations",
                (REUSED_WORKER,),
            )
        )


def snapshot(store: Store, path: Path) -> dict:
    """Everything a run decides: generation statistics and GA states, the told fitness of every
    generation (recomputed from the store), the final population, the final table and every row."""
    run = store.get_run("f")
    generations = store.generations(run.id)
    return {
        "generations": [
            (g.index, g.best_fitness, g.mean_fitness, g.std_fitness, g.ga_state) for g in generations
        ],
        "told": [replayed(store, COMBINED, g.index)[1].told for g in generations],
        "final": [i.model_dump(exclude={"run_id"}) for i in store.individuals(run.id, generations[-1].index)],
        "table": [e.model_dump() for e in best(store, run.id, top_k=None)],
        "rows": all_rows(path),
    }


def test_sigkilled_mid_generation_resumes_to_the_same_end(tmp_path, combined_run) -> None:
    reference = snapshot(combined_run[0], combined_run[2])
    url = f"sqlite:///{tmp_path / 'evo.db'}"
    kill_during(url, COMBINED, [(0, 5, 3), (1, 5, 4), (1, 20, 7), (2, 20, 2)], ga="duplicating")
    store = Store(url)
    cfg = parse_config(COMBINED)
    run = find_run(store, "f", cfg)
    executor = CountingExecutor()
    with executor:
        driver = Driver(store, run, executor, cfg=cfg)
        driver.ga = DuplicatingGA(cfg.population)
        driver.run()
    assert snapshot(store, tmp_path / "evo.db") == reference
