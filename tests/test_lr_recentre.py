"""lr re-centring of parents (evo.search.lr_recentre): the factor's formula, the GA hook, the driver
breeding from re-centred parents read from a real store, exact resume, and the config check."""

from __future__ import annotations

import math

import pytest

from evo.config.schema import PopulationConfig, parse_config
from evo.errors import ConfigError
from evo.execution.inline import InlineExecutor
from evo.runner.driver import Driver, create_run
from evo.search.ga import GAState, GeneticAlgorithm
from evo.search.lr_recentre import recentre_factor, recentre_factors, recentred
from evo.search.lr_variants import genome_variant_keys, seed_values
from evo.search.selection import population_fitness
from optimizers.baselines import ADAM
from storage import Store
from tests.test_driver import TASKS, tiny_config
from tests.test_search import CrashAfter

MULTS = [0.3, 1.0, 3.0]
RECENTRE = {
    "evaluation__lr_multipliers": MULTS,
    "evaluation__lr_aggregate": "best",
    "evaluation__lr_recentre": "geomean",
    "population__generations": 2,
}


def _values(means: dict[str, float]) -> dict[tuple[str, int], float]:
    return {(t, s): m for t, m in means.items() for s in (0, 1)}


def test_factor_is_the_geometric_mean_of_the_per_task_best_multipliers() -> None:
    tasks = ["a", "b", "c"]
    # best multiplier per task: a -> 0.3, b -> 3, c -> 3
    variants = [
        _values({"a": 0.9, "b": 0.1, "c": 0.2}),
        _values({"a": 0.5, "b": 0.2, "c": 0.3}),
        _values({"a": 0.1, "b": 0.3, "c": 0.4}),
    ]
    expected = (0.3 * 3.0 * 3.0) ** (1 / 3)
    assert recentre_factor(variants, MULTS, tasks, [0, 1]) == pytest.approx(expected, rel=1e-12)
    assert recentre_factor(variants, MULTS, ["a"], [0, 1]) == pytest.approx(0.3, rel=1e-12)
    assert recentre_factor(variants, MULTS, ["a", "b"], [0, 1]) == pytest.approx(math.sqrt(0.9), rel=1e-12)
    assert recentre_factor(variants, MULTS, tasks, [0, 1], "min") == 0.3
    assert recentre_factor(variants, MULTS, ["b", "c"], [0, 1], "min") == 3.0


def test_tasks_without_a_finite_choice_do_not_count_and_none_leaves_the_lr() -> None:
    variants = [
        _values({"a": 0.1, "b": math.nan}),
        _values({"a": 0.2, "b": math.nan}),
        _values({"a": 0.3, "b": math.nan}),
    ]
    assert recentre_factor(variants, MULTS, ["a", "b"], [0, 1]) == pytest.approx(3.0, rel=1e-12)
    assert recentre_factor(variants, MULTS, ["b"], [0, 1]) == 1.0
    assert recentre_factor([{}, {}, {}], MULTS, ["a"], [0, 1]) == 1.0
    assert recentred(ADAM, 1.0) is ADAM
    assert recentred(ADAM, 10.0).lr_log10 == pytest.approx(ADAM.lr_log10 + 1.0, abs=1e-12)


def test_factors_read_each_genomes_variants_by_cache_key() -> None:
    keys = genome_variant_keys(ADAM, ADAM.hash, MULTS)
    values = {keys[0]: _values({"a": 0.1}), keys[1]: _values({"a": 0.2}), keys[2]: _values({"a": 0.7})}
    factors = recentre_factors(values, {ADAM.hash: ADAM}, MULTS, ["a"], [0, 1])
    assert factors == {ADAM.hash: pytest.approx(3.0, rel=1e-12)}


def test_tell_breeds_from_the_given_parents_and_keeps_elites() -> None:
    ga = GeneticAlgorithm(PopulationConfig(size=10, elites=2, tournament_k=3, generations=5))
    state = ga.init(seed=5)
    fitness = [float(i % 4) for i in range(10)]
    shift = 0.5
    parents = [i.genome.model_copy(update={"lr_log10": i.genome.lr_log10 + shift}) for i in state.population]
    plain, shifted = ga.tell(state, fitness), ga.tell(state, fitness, parents)
    assert plain.best_genome == shifted.best_genome
    for a, b in zip(plain.population, shifted.population, strict=True):
        assert a.origin == b.origin
        if a.origin == "elite":
            assert a.genome == b.genome
            continue
        assert b.genome.lr_log10 == pytest.approx(a.genome.lr_log10 + shift, abs=1e-9)
        assert b.genome.model_copy(update={"lr_log10": a.genome.lr_log10}) == a.genome
    with pytest.raises(ValueError, match="parents"):
        ga.tell(state, fitness, parents[:3])


def _generation_zero(tmp_path, overrides: dict):
    """A finished run of ``tiny_config(**overrides)`` and what generation 1 was bred from:
    (cfg, store, run, ga, its initial state, generation 0's population, the stored lr variants'
    seed values, the population's genomes by key)."""
    cfg = parse_config(tiny_config(**overrides))
    store = Store(f"sqlite:///{tmp_path / 'evo.db'}")
    run = create_run(store, cfg, "t")
    with InlineExecutor(max_retries=0) as executor:
        Driver(store, run, executor).run()
    ga = GeneticAlgorithm(cfg.population)
    state0 = ga.init(cfg.seed)
    population = ga.ask(state0)
    genomes = {ind.key: ind.genome for ind in population}
    keys = [k for key, g in genomes.items() for k in genome_variant_keys(g, key, MULTS)]
    values = seed_values(store.evaluations(keys, cfg.budget_key))
    return cfg, store, run, ga, state0, population, values, genomes


def test_driver_breeds_generation_one_from_recentred_parents(tmp_path) -> None:
    cfg, store, run, ga, state0, population, values, genomes = _generation_zero(tmp_path, RECENTRE)
    assert [i.genome for i in store.individuals(run.id, 0)] == [i.genome for i in population]
    fitness = population_fitness(store, cfg, population)
    factors = recentre_factors(values, genomes, MULTS, TASKS, cfg.evaluation.seeds)
    assert any(f != pytest.approx(1.0) for f in factors.values())  # the run did re-centre someone
    parents = [recentred(ind.genome, factors[ind.key]) for ind in population]
    expected: GAState = ga.tell(state0, fitness, parents)
    stored = [i.genome for i in store.individuals(run.id, 1)]
    assert stored == [ind.genome for ind in expected.population]
    assert stored != [ind.genome for ind in ga.tell(state0, fitness).population]


def test_min_recentring_breeds_from_the_smallest_per_task_multiplier(tmp_path) -> None:
    overrides = {**RECENTRE, "evaluation__lr_recentre": "min"}
    cfg, store, run, ga, state0, population, values, genomes = _generation_zero(tmp_path, overrides)
    factors = recentre_factors(values, genomes, MULTS, TASKS, cfg.evaluation.seeds, "min")
    assert factors != recentre_factors(values, genomes, MULTS, TASKS, cfg.evaluation.seeds)
    parents = [recentred(ind.genome, factors[ind.key]) for ind in population]
    expected = ga.tell(state0, population_fitness(store, cfg, population), parents)
    assert [i.genome for i in store.individuals(run.id, 1)] == [ind.genome for ind in expected.population]


def test_resume_after_a_crash_is_exact_with_recentring(tmp_path) -> None:
    (tmp_path / "ref").mkdir()
    ref_store = Store(f"sqlite:///{tmp_path / 'ref' / 'evo.db'}")
    cfg = parse_config(tiny_config(**RECENTRE))
    ref_run = create_run(ref_store, cfg, "t")
    store = Store(f"sqlite:///{tmp_path / 'crash.db'}")
    run = create_run(store, cfg, "t")
    with InlineExecutor(max_retries=0) as executor:
        ref_final = Driver(ref_store, ref_run, executor).run()
        with pytest.raises(RuntimeError, match="simulated crash"):
            Driver(store, run, executor, CrashAfter(120)).run()
        final = Driver(store, store.get_run(run.id), executor).run()
    assert final.model_dump(mode="json") == ref_final.model_dump(mode="json")


def test_recentring_needs_several_multipliers() -> None:
    with pytest.raises(ConfigError, match="lr_recentre needs at least two lr_multipliers"):
        parse_config(tiny_config(evaluation__lr_recentre="min"))


def test_recentred_pick_is_the_rank1_at_its_training_min_multiplier(tmp_path, monkeypatch) -> None:
    import sys
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "benchmarks"))
    sys.modules.pop("generalization_pick", None)
    from generalization_pick import pick

    cfg = parse_config(tiny_config(**{**RECENTRE, "evaluation__lr_recentre": "min"}))
    url = f"sqlite:///{tmp_path / 'evo.db'}"
    store = Store(url)
    with InlineExecutor(max_retries=0) as executor:
        Driver(store, create_run(store, cfg, "t"), executor).run()
    store.close()
    genome, fitness, _, settings = pick("t", url, "search")
    moved, same_fitness, _, moved_settings = pick("t", url, "search_recentred")
    centre = settings["training_lr_centre"]
    assert centre in MULTS and moved_settings["recentred_by"] == "min" and same_fitness == fitness
    assert moved == recentred(genome, centre)
