"""Search-quality mechanisms on real runs (inline executor, SQLite store, real workers):
tuned baselines (fixed_lr_grid), lr-robust genome fitness, normalised fitness, random init
and the functional fingerprint's deduplication."""

from __future__ import annotations

import math

import pytest

from evo.config.schema import PopulationConfig, parse_config
from evo.evidence.ranking import best
from evo.evidence.tuned import entry_seed_values
from evo.execution.inline import InlineExecutor
from evo.runner.driver import Driver, create_run
from evo.search.dedup import REUSED_WORKER
from evo.search.ga import GAState, GeneticAlgorithm, Individual
from evo.search.lr_variants import aggregate, genome_variant_keys, seed_values
from evo.search.normalize import normalized_fitness
from optimizers.baselines import ADAM, BASELINE_GENOMES
from optimizers.entry import scaled_genome
from optimizers.genome import Term
from storage import Store
from storage.records import FIXED_GENERATION
from tests.test_driver import TASKS, Recorder, tiny_config

SEEDS = [0, 1]


def _run(tmp_path, name="t", observer=None, **overrides):
    cfg = parse_config(tiny_config(**overrides))
    store = Store(f"sqlite:///{tmp_path / 'evo.db'}")
    run = create_run(store, cfg, name)
    with InlineExecutor(max_retries=0) as executor:
        final = Driver(store, run, executor, observer or Recorder()).run()
    return cfg, store, run, final


def test_lr_grid_stores_every_point_and_ranks_fixed_entries_tuned(tmp_path) -> None:
    cfg, store, run, _ = _run(
        tmp_path, fixed_entries=["adam", "lion"], fixed_lr_grid=[0.1, 1.0, 10.0], population__generations=1
    )
    fixed = store.individuals(run.id, FIXED_GENERATION)
    labels = ["adam", "lion", "adam@lr*0.1", "adam@lr*10", "lion@lr*0.1", "lion@lr*10"]
    assert [i.label for i in fixed] == labels
    adam_keys = [ADAM.hash, scaled_genome(ADAM, 0.1).hash, scaled_genome(ADAM, 10.0).hash]
    assert [i.entry_key for i in fixed][2:4] == adam_keys[1:]
    assert fixed[0].entry_key == ADAM.hash  # multiplier 1 keeps the entry's own key
    keys = [i.entry_key for i in fixed]
    values = seed_values(store.evaluations(keys, cfg.budget_key))
    for key in keys:  # every grid point stored on every task and seed
        assert set(values[key]) == {(t, s) for t in TASKS for s in SEEDS}
    # the lr really was scaled for the opaque entry
    assert values["lion@lr*10"] != values["lion"]

    entries = {e.label: e for e in best(store, run.id, top_k=None) if e.is_fixed}
    assert set(entries) == {"adam", "lion"}  # grid points are folded in, not ranked
    for name, points in (("adam", adam_keys), ("lion", ["lion", "lion@lr*0.1", "lion@lr*10"])):
        multipliers = [1.0, 0.1, 10.0]
        for t in TASKS:
            means = [sum(values[k][(t, s)] for s in SEEDS) / 2 for k in points]
            assert entries[name].per_task[t] == pytest.approx(max(means), abs=1e-12)
            assert entries[name].lr_tuned[t] == multipliers[means.index(max(means))]
        assert entries[name].fitness == pytest.approx(sum(entries[name].per_task.values()) / len(TASKS))
        # paired statistics read the chosen grid point's seeds
        paired = entry_seed_values(store, cfg.budget_key, TASKS, SEEDS, [entries[name]])
        paired = paired[entries[name].entry_key]
        for t in TASKS:
            chosen = points[multipliers.index(entries[name].lr_tuned[t])]
            assert [paired[(t, s)] for s in SEEDS] == [values[chosen][(t, s)] for s in SEEDS]
    # evo best --vs / the report compare with the tuned entry
    from evo.evidence.paired import versus

    top = next(e for e in best(store, run.id, top_k=None) if not e.is_fixed)
    [v] = versus(store, run.scope, (top.entry_key, "top"), [(ADAM.hash, "adam")], tuned=[entries["adam"]])
    top_values = seed_values(store.evaluations([top.entry_key], cfg.budget_key))[top.entry_key]
    for t, stats in v.training.items():
        tuned_mean = entries["adam"].per_task[t]
        assert stats.mean_diff == pytest.approx(sum(top_values[(t, s)] for s in SEEDS) / 2 - tuned_mean)


def test_compare_scores_every_grid_point_and_ranks_tuned(tmp_path) -> None:
    from evo.runner.compare import missing_fixed, score_fixed

    cfg = parse_config(tiny_config(fixed_entries=["adam", "lion"], fixed_lr_grid=[1.0, 3.0]))
    store = Store(f"sqlite:///{tmp_path / 'evo.db'}")
    with InlineExecutor(max_retries=0) as executor:
        entries = score_fixed(store, cfg, executor)
    assert [e.label for e in entries if e.is_fixed] and {e.label for e in entries} == {"adam", "lion"}
    assert all(e.complete and set(e.lr_tuned) == set(TASKS) for e in entries)
    keys, missing = missing_fixed(store, cfg)
    assert len(keys) == 4 and missing == []


def test_lr_multipliers_train_variants_and_aggregate(tmp_path) -> None:
    cfg, store, run, _final = _run(
        tmp_path, evaluation__lr_multipliers=[0.3, 1.0, 3.0], evaluation__lr_aggregate="mean",
        population__generations=1,
    )
    population = store.individuals(run.id, 0)
    fitness = []
    for ind in population:
        keys = genome_variant_keys(ind.genome, ind.entry_key, [0.3, 1.0, 3.0])
        values = seed_values(store.evaluations(keys, cfg.budget_key))
        assert all(len(values[k]) == len(TASKS) * 2 for k in keys)
        per_seed = aggregate([values[k] for k in keys], "mean", TASKS, SEEDS)
        fitness.append(sum(sum(per_seed[(t, s)] for s in SEEDS) / 2 for t in TASKS) / len(TASKS))
    assert store.generations(run.id)[0].best_fitness == pytest.approx(max(fitness), abs=1e-12)


def test_rank_normalisation_is_what_the_ga_is_told(tmp_path) -> None:
    cfg, store, run, _ = _run(tmp_path, fitness__normalize="rank", population__generations=1)
    population = store.individuals(run.id, 0)
    keys = list(dict.fromkeys(i.entry_key for i in population))
    values = seed_values(store.evaluations(keys, cfg.budget_key))
    expected = normalized_fitness({k: values[k] for k in keys}, TASKS, SEEDS, "rank")
    closed = store.generations(run.id)[0]
    assert closed.best_fitness == pytest.approx(max(expected.values()), abs=1e-12)
    assert 0.0 <= closed.best_fitness <= 1.0


def test_reference_normalisation_needs_a_fixed_reference() -> None:
    from evo.errors import ConfigError

    with pytest.raises(ConfigError, match=r"fitness\.reference"):
        parse_config(tiny_config(fitness__normalize="reference", fitness__reference="lion"))


def test_random_init_leaves_the_baselines_out() -> None:
    baselines = {g.hash for g in BASELINE_GENOMES.values()}
    seeded = GeneticAlgorithm(PopulationConfig(size=8)).init(3)
    random = GeneticAlgorithm(PopulationConfig(size=8, init="random")).init(3)
    assert baselines <= {i.key for i in seeded.population}
    assert not baselines & {i.key for i in random.population}
    assert len(random.population) == 8


def test_fingerprint_duplicates_reuse_the_representatives_rows(tmp_path) -> None:
    # ADAM plus a negligible sign term: a different canonical hash, the same update.
    twin = ADAM.model_copy(update={"term_types": (Term.ADAM_TERM, Term.SIGN_GRAD), "alphas": (1.0, 1e-12)})
    assert twin.hash != ADAM.hash
    cfg = parse_config(
        tiny_config(evaluation__fingerprint=True, population__size=2, population__elites=0,
                    population__tournament_k=2, population__generations=1, fixed_entries=["lion"])
    )
    store = Store(f"sqlite:///{tmp_path / 'evo.db'}")
    run = create_run(store, cfg, "fp")
    state = GAState(
        generation=0,
        population=(Individual(genome=ADAM, origin="init"), Individual(genome=twin, origin="init")),
        rng_state=GeneticAlgorithm(cfg.population).init(0).rng_state,
    )
    recorder = Recorder()
    with InlineExecutor(max_retries=0) as executor:
        driver = Driver(store, run, executor, recorder)
        driver.store.save_generation(run.id, FIXED_GENERATION, driver.fixed_rows)
        driver.run_generation(state)
    copies = [r for r in recorder.rows if r.entry_key == twin.hash]
    assert copies == []  # copies are recorded directly, not trained
    rows = seed_values(store.evaluations([ADAM.hash, twin.hash], cfg.budget_key))
    assert rows[twin.hash] == rows[ADAM.hash]
    stored = store.evaluations([twin.hash], cfg.budget_key)
    assert len(stored) == len(TASKS) * 2
    assert all(r.worker == REUSED_WORKER and r.metrics["reused_from"] == ADAM.hash for r in stored)
    trained = {r.entry_key for r in recorder.rows}
    assert ADAM.hash in trained and twin.hash not in trained


class CrashAfter(Recorder):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.left = n

    def evaluation_recorded(self, row) -> None:
        self.left -= 1
        if self.left == 0:
            raise RuntimeError("simulated crash")


@pytest.mark.parametrize("overrides", [
    {"evaluation__fingerprint": True, "fitness__normalize": "reference", "fitness__reference": "adam",
     "fixed_lr_grid": [0.3, 1.0], "evaluation__lr_multipliers": [1.0, 3.0]},
])
def test_resume_after_a_crash_is_exact_with_every_mechanism_on(tmp_path, overrides) -> None:
    (tmp_path / "ref").mkdir()
    _, ref_store, ref_run, ref_final = _run(tmp_path / "ref", **overrides)
    cfg = parse_config(tiny_config(**overrides))
    store = Store(f"sqlite:///{tmp_path / 'crash.db'}")
    run = create_run(store, cfg, "t")
    with InlineExecutor(max_retries=0) as executor:
        with pytest.raises(RuntimeError, match="simulated crash"):
            Driver(store, run, executor, CrashAfter(150)).run()
        final = Driver(store, store.get_run(run.id), executor).run()
    assert final.model_dump(mode="json") == ref_final.model_dump(mode="json")
    assert [g.best_fitness for g in store.generations(run.id)] == [
        g.best_fitness for g in ref_store.generations(ref_run.id)
    ]
    assert all(math.isfinite(g.best_fitness) for g in store.generations(run.id))


def test_rediscovery_generation_is_the_first_to_reach_adam() -> None:
    from evo.evidence.rediscovery import rediscovery_generation

    trace = [(0, 0.2), (1, math.nan), (2, 0.49), (3, 0.5), (4, 0.7)]
    assert rediscovery_generation(trace, 0.5) == 3
    assert rediscovery_generation(trace, 0.8) is None
    assert rediscovery_generation(trace, math.nan) is None


def test_random_init_run_reports_rediscovery(tmp_path) -> None:
    from evo.report.markdown import write_report

    _, store, run, _ = _run(tmp_path, population__init="random", population__generations=2,
                            fixed_entries=["adam"], fixed_lr_grid=[0.1, 1.0])
    generation0 = {i.entry_key for i in store.individuals(run.id, 0)}
    assert not {g.hash for g in BASELINE_GENOMES.values()} & generation0
    text = write_report(store, run.id, tmp_path / "report", landscape_steps=0).read_text()
    assert "- rediscovery: " in text and "tuned Adam" in text


def test_grid_scales_a_custom_entry(tmp_path) -> None:
    custom = {"import": "torch.optim:SGD", "name": "my_sgd", "kwargs": {"lr": 0.05}}
    cfg, store, run, _ = _run(
        tmp_path, fixed_entries=["adam", custom], fixed_lr_grid=[1.0, 0.1], population__generations=1,
        fitness__normalize="reference", fitness__reference="my_sgd",
    )
    fixed = store.individuals(run.id, FIXED_GENERATION)
    assert [i.label for i in fixed] == ["adam", "my_sgd", "adam@lr*0.1", "my_sgd@lr*0.1"]
    keys = [i.entry_key for i in fixed]
    assert keys[3] == keys[1] + "@lr*0.1"
    values = seed_values(store.evaluations(keys, cfg.budget_key))
    assert values[keys[3]] != values[keys[1]] and len(values[keys[3]]) == len(TASKS) * 2
    tuned = {e.label: e for e in best(store, run.id, top_k=None) if e.is_fixed}
    assert set(tuned) == {"adam", "my_sgd"} and tuned["my_sgd"].lr_tuned is not None
