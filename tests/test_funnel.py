"""The task funnel (evo.search.funnel): ordering, promotion, no re-runs, listed steps, exact
resume after SIGKILL."""

from __future__ import annotations

import math

import pytest

from evo.config.schema import parse_config
from evo.errors import ConfigError
from evo.execution.inline import InlineExecutor
from evo.runner.driver import Driver, create_run, find_run
from evo.search.aggregation import funnel_fitness, funnel_order
from evo.search.funnel import missing_at, promoted, rungs
from evo.search.ga import GAState
from evo.search.selection import population_fitness
from storage import Store
from tests.funnel_helpers import CountingExecutor, kill_during
from workers.requests import budget_key

CONFIG = {
    "seed": 11,
    "tasks": ["qubic_1d_direct", "six_hump_camel_direct", "digits"],
    "evaluation": {
        "steps": 20, "seeds": [0, 1], "genomes_per_request": 3, "device": "cpu",
        "funnel": [{"tasks": ["qubic_1d_direct", "digits"], "seeds": [0], "steps": 5, "keep": 0.5}, {}],
    },
    "population": {"size": 8, "elites": 2, "tournament_k": 3, "generations": 3},
    "fixed_entries": ["adam", "sgd_momentum", "evo_seed_best"],
    "executor": {"kind": "inline", "max_retries": 0},
}  # fmt: skip


# -- ordering and promotion (pure) ---------------------------------------------------------
def test_stopped_early_ranks_below_every_entry_that_went_further() -> None:
    levels = {"a": 1, "b": 1, "c": 0, "d": 0, "e": 0, "n": 1}
    scores = {"a": 0.2, "b": -0.5, "c": 5.0, "d": 0.1, "e": math.nan, "n": math.nan}
    told = funnel_fitness(levels, scores)
    assert told["a"] == 0.2 and told["b"] == -0.5  # the top level keeps its real fitness
    assert told["c"] < told["b"] and told["d"] < told["b"]  # 5.0 at rung 0 < -0.5 at the top
    assert told["c"] - told["d"] == pytest.approx(4.9)  # order and spread within a rung kept
    assert math.isnan(told["e"]) and math.isnan(told["n"])
    finite = [k for k in levels if not math.isnan(told[k])]
    by_told = sorted(finite, key=lambda k: -told[k])
    assert by_told == sorted(finite, key=lambda k: funnel_order(levels[k], scores[k]))


def test_promotion_keeps_the_top_fraction_nan_last_ties_in_slot_order() -> None:
    keys = ["a", "b", "c", "d", "e"]
    assert promoted(keys, [0.1, 0.9, math.nan, 0.5, 0.3], 0.5) == ["b", "d", "e"]  # ceil(2.5) = 3
    assert promoted(keys, [0.1, 0.9, math.nan, 0.5, 0.3], 0.01) == ["b"]  # at least one climbs
    assert promoted(keys, [0.2, 0.2, 0.2, 0.2, 0.2], 0.4) == ["a", "b"]


# -- config ----------------------------------------------------------------------------------
def test_listed_steps_are_a_two_rung_funnel_with_the_longer_budget_on_top() -> None:
    cfg = parse_config({**CONFIG, "evaluation": {"steps": [200, 1000], "seeds": [0]}})
    assert cfg.evaluation.steps == 1000
    assert cfg.budget_key == budget_key(1000)
    ladder = rungs(cfg)
    assert [r.cfg.evaluation.steps for r in ladder] == [200, 1000]
    assert [r.budget_key for r in ladder] == ["steps=200;split=val;v1", "steps=1000;split=val;v1"]
    assert all(r.cfg.tasks == cfg.tasks for r in ladder)
    assert parse_config(cfg.model_dump(mode="json")) == cfg  # the stored dump reads back the same


def test_no_funnel_keeps_the_budget_key_text() -> None:
    cfg = parse_config({**CONFIG, "evaluation": {"steps": 200}})
    assert cfg.evaluation.funnel is None and rungs(cfg) == []
    assert cfg.budget_key == "steps=200;split=val;v1"


@pytest.mark.parametrize(
    ("evaluation", "message"),
    [
        ({"steps": 20, "funnel": [{"steps": 5}, {"steps": 10}]}, "last rung is the full evaluation"),
        ({"steps": 20, "funnel": [{"tasks": ["rosenbrock_direct"]}, {}]}, "not one of the job's tasks"),
        ({"steps": [5, 20], "funnel": [{}, {}]}, "not both"),
        ({"steps": [20, 5]}, "increasing"),
        ({"steps": 20, "funnel": [{"keep": 0}, {}]}, "keep"),
    ],
)
def test_bad_funnels_are_refused_in_one_line(evaluation, message) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_config({**CONFIG, "evaluation": evaluation})
    assert "\n" not in str(info.value)


# -- the driver ------------------------------------------------------------------------------
def run_funnel(url: str, config: dict = CONFIG) -> tuple[Store, CountingExecutor, GAState]:
    store = Store(url)
    cfg = parse_config(config)
    run = create_run(store, cfg, "f")
    executor = CountingExecutor()
    with executor:
        state = Driver(store, run, executor, cfg=cfg).run()
    return store, executor, state


@pytest.fixture(scope="module")
def funnel_run(tmp_path_factory):
    return run_funnel(f"sqlite:///{tmp_path_factory.mktemp('funnel') / 'evo.db'}")


def test_promotion_order_is_the_rung_ranking_and_the_ga_is_told_the_funnel_order(funnel_run) -> None:
    store, _executor, _state = funnel_run
    cfg = parse_config(CONFIG)
    low, top = rungs(cfg)
    run = store.get_run("f")
    for g in range(3):
        population = store.individuals(run.id, g)
        first = {}
        for ind in population:
            first.setdefault(ind.entry_key, ind)
        top_done = {k for k in first if not missing_at(store, top, [k])}
        low_done = {k for k in first if not missing_at(store, low, [k])}
        elites = {k for k, i in first.items() if i.origin == "elite" and k in top_done}
        fixed = {k for k in first if g == 0 and first[k].origin == "init" and k in top_done} - low_done
        climbers = [k for k in first if k not in elites and k not in fixed]
        assert set(climbers) <= low_done
        scores = population_fitness(store, low.cfg, [_ind(first[k]) for k in climbers])
        expected = promoted(climbers, scores, 0.5)
        assert [k for k in climbers if k in top_done] == expected
        assert len(expected) == math.ceil(len(climbers) / 2)


def _ind(record):
    from evo.search.ga import Individual

    return Individual(genome=record.genome, origin=record.origin)


def test_nothing_is_trained_twice_and_elites_skip_the_funnel(funnel_run, tmp_path) -> None:
    store, executor, _state = funnel_run
    assert len(executor.trained) == len(set(executor.trained))  # no result is ever re-run
    run = store.get_run("f")
    top = budget_key(20)
    skipped = 0
    for g in (1, 2):
        elites = {i.entry_key for i in store.individuals(run.id, g) if i.origin == "elite"}
        trained = {t[0] for t, h in zip(executor.trained, executor.generation_of, strict=True) if h == g}
        had_top = {e for e in elites if len(store.evaluations([e], top)) == 6}  # 3 tasks x 2 seeds
        assert not trained & had_top  # an elite with its full evaluation is done: no rung re-run
        skipped += len(had_top)
    assert skipped >= 2


def test_a_second_run_on_the_same_store_trains_nothing(funnel_run) -> None:
    store, _executor, _state = funnel_run
    cfg = parse_config(CONFIG)
    run = create_run(store, cfg, "again")
    executor = CountingExecutor()
    with executor:
        Driver(store, run, executor, cfg=cfg).run()
    assert executor.trained == []  # every rung's result is a cache hit
    assert [g.best_fitness for g in store.generations(run.id)] == [
        g.best_fitness for g in store.generations(store.get_run("f").id)
    ]


def test_funnel_trains_fewer_model_steps_than_the_full_evaluation(funnel_run, tmp_path) -> None:
    _store, executor, _state = funnel_run
    plain = {**CONFIG, "evaluation": {k: v for k, v in CONFIG["evaluation"].items() if k != "funnel"}}
    _s, full, _ = run_funnel(f"sqlite:///{tmp_path / 'plain.db'}", plain)
    assert sum(t[3] for t in executor.trained) < sum(t[3] for t in full.trained)


# -- exact resume after SIGKILL ---------------------------------------------------------------
def snapshot(store: Store) -> dict:
    run = store.get_run("f")
    generations = store.generations(run.id)
    return {
        "generations": [
            (g.index, g.best_fitness, g.mean_fitness, g.std_fitness, g.ga_state) for g in generations
        ],
        "final": [i.model_dump(exclude={"run_id"}) for i in store.individuals(run.id, generations[-1].index)],
    }


def test_sigkilled_inside_each_rung_resumes_to_the_same_end(tmp_path, funnel_run) -> None:
    reference = snapshot(funnel_run[0])
    url = f"sqlite:///{tmp_path / 'evo.db'}"
    kill_during(url, CONFIG, [(1, 5, 2), (1, 20, 3), (2, 5, 1), (2, 20, 13)])
    store = Store(url)
    cfg = parse_config(CONFIG)
    run = find_run(store, "f", cfg)
    with InlineExecutor(max_retries=0) as executor:
        Driver(store, run, executor, cfg=cfg).run()
    assert snapshot(store) == reference


def test_elites_with_their_full_evaluation_never_climb(funnel_run) -> None:
    """The seeded baselines of generation 0 have the full evaluation (as fixed entries) and no
    cheap-rung result: as elites they must sit at the top level and train nothing."""
    from evo.search.funnel import climb
    from evo.search.ga import Individual

    store, _executor, _state = funnel_run
    low, top = rungs(parse_config(CONFIG))
    g0 = store.individuals(store.get_run("f").id, 0)
    baselines = [
        i for i in g0 if not missing_at(store, top, [i.entry_key]) and missing_at(store, low, [i.entry_key])
    ]
    assert baselines
    climbers = [i for i in g0 if not missing_at(store, low, [i.entry_key])]
    population = [Individual(genome=i.genome, origin="elite") for i in baselines]
    population += [Individual(genome=i.genome, origin="mutation") for i in climbers]
    asked: list = []
    result = climb(store, population, [low, top], lambda cfg, missing, prefix: asked.extend(missing))
    assert asked == []  # nothing to train: elites are done, the others' rungs are cached
    full = population_fitness(store, top.cfg, population[: len(baselines)])
    for ind, f in zip(population, full, strict=False):
        assert result.levels[ind.key] == 1 and result.told[ind.key] == f
