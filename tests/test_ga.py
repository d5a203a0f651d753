"""The ask/tell GA: determinism, elites, best-so-far, NaN ranking, JSON resume, toy search."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable

import numpy as np
import pytest
from pydantic import ValidationError

from evo.config.schema import PopulationConfig
from evo.search.ga import GAState, GeneticAlgorithm, Individual, elite_indices, ranking_fitness
from optimizers.baselines import BASELINE_GENOMES
from optimizers.genome import Genome, Term

PARAMS = PopulationConfig(size=12, elites=3, tournament_k=4, generations=8)


def toy_fitness(genome: Genome) -> float:
    """Best at lr 10^-1.5 with a SIGN_GRAD term of weight 1 (a smooth landscape over genomes)."""
    sign_weight = genome.term_weights()[Term.SIGN_GRAD]
    return -abs(genome.lr_log10 + 1.5) - abs(sign_weight - 1.0)


def run(
    ga: GeneticAlgorithm, seed: int, generations: int, score: Callable[[Genome], float] = toy_fitness
) -> list[GAState]:
    states = [ga.init(seed)]
    for _ in range(generations):
        fitness = [score(ind.genome) for ind in ga.ask(states[-1])]
        states.append(ga.tell(states[-1], fitness))
    return states


def dump(state: GAState) -> str:
    return json.dumps(state.model_dump(mode="json"), sort_keys=True)


def test_init_is_the_seed_population() -> None:
    state = GeneticAlgorithm(PARAMS).init(seed=42)
    assert state.generation == 0 and len(state.population) == PARAMS.size
    assert [ind.genome for ind in state.population[:4]] == list(BASELINE_GENOMES.values())
    assert all(ind.origin == "init" and ind.parents == () for ind in state.population)
    assert state.best_genome is None and state.best_fitness == -math.inf
    assert GeneticAlgorithm(PARAMS).ask(state) == state.population


def test_same_seed_and_fitness_give_the_same_populations() -> None:
    first, second = run(GeneticAlgorithm(PARAMS), 7, 5), run(GeneticAlgorithm(PARAMS), 7, 5)
    assert [dump(s) for s in first] == [dump(s) for s in second]
    other = run(GeneticAlgorithm(PARAMS), 8, 5)
    assert [ind.key for ind in other[-1].population] != [ind.key for ind in first[-1].population]


def test_different_fitness_gives_a_different_population() -> None:
    ga = GeneticAlgorithm(PARAMS)
    state = ga.init(3)
    a = ga.tell(state, [toy_fitness(i.genome) for i in state.population])
    b = ga.tell(state, [-toy_fitness(i.genome) for i in state.population])
    assert [i.key for i in a.population] != [i.key for i in b.population]
    assert a.rng_state != state.rng_state


def test_elites_are_carried_unchanged_and_children_record_their_parents() -> None:
    ga = GeneticAlgorithm(PARAMS)
    state = ga.init(11)
    fitness = [toy_fitness(i.genome) for i in state.population]
    nxt = ga.tell(state, fitness)
    order = sorted(range(len(fitness)), key=lambda i: fitness[i], reverse=True)
    elites = nxt.population[: PARAMS.elites]
    assert [e.genome for e in elites] == [state.population[i].genome for i in order[: PARAMS.elites]]
    assert all(e.origin == "elite" and e.parents == (e.key,) for e in elites)
    previous_keys = {i.key for i in state.population}
    for child in nxt.population[PARAMS.elites:]:
        assert child.origin in ("crossover", "mutation")
        assert len(child.parents) == 2 and set(child.parents) <= previous_keys
    assert nxt.generation == 1 and len(nxt.population) == PARAMS.size


def test_best_so_far_is_monotone_and_matches_the_evaluated_genomes() -> None:
    states = run(GeneticAlgorithm(PARAMS), 5, 6)
    best = [s.best_fitness for s in states[1:]]
    assert all(b2 >= b1 for b1, b2 in itertools.pairwise(best))
    for before, after in itertools.pairwise(states):
        evaluated = max(toy_fitness(i.genome) for i in before.population)
        assert after.best_fitness == max(before.best_fitness, evaluated)
    assert toy_fitness(states[-1].best_genome) == states[-1].best_fitness


def test_nan_ranks_last_and_never_becomes_best() -> None:
    ga = GeneticAlgorithm(PopulationConfig(size=6, elites=5, tournament_k=6, generations=3))
    state = ga.init(0)
    fitness = [math.nan, 0.5, math.nan, 0.2, -math.inf, 0.1]
    nxt = ga.tell(state, fitness)
    slots = [1, 3, 5, 0, 2]  # NaN ranks as -inf: last, ties in slot order
    assert [i.genome for i in nxt.population[:5]] == [state.population[s].genome for s in slots]
    assert nxt.best_fitness == 0.5 and nxt.best_genome == state.population[1].genome
    # with k = n every tournament is won by the best individual
    assert all(child.parents == (state.population[1].key,) * 2 for child in nxt.population[5:])
    assert list(elite_indices(ranking_fitness([math.nan, 1.0, 1.0]), 3)) == [1, 2, 0]


def test_all_nan_leaves_best_unset_and_still_breeds() -> None:
    ga = GeneticAlgorithm(PARAMS)
    state = ga.init(1)
    nxt = ga.tell(state, [math.nan] * PARAMS.size)
    assert nxt.best_genome is None and nxt.best_fitness == -math.inf
    assert len(nxt.population) == PARAMS.size
    restored = GAState.model_validate(json.loads(dump(nxt)))
    assert restored.best_fitness == -math.inf


def test_state_json_round_trip_mid_run_continues_identically() -> None:
    ga = GeneticAlgorithm(PARAMS)
    states = run(ga, 21, 6)
    mid = GAState.model_validate(json.loads(dump(states[3])))
    assert mid == states[3]
    resumed = [mid]
    for _ in range(3):
        fitness = [toy_fitness(i.genome) for i in resumed[-1].population]
        resumed.append(ga.tell(resumed[-1], fitness))
    assert [dump(s) for s in resumed] == [dump(s) for s in states[3:]]


def test_tell_rejects_a_wrong_number_of_fitness_values() -> None:
    ga = GeneticAlgorithm(PARAMS)
    state = ga.init(0)
    with pytest.raises(ValueError, match="fitness values"):
        ga.tell(state, [0.0] * (PARAMS.size - 1))


def test_is_last_counts_generations_from_zero() -> None:
    ga = GeneticAlgorithm(PopulationConfig(size=4, elites=1, tournament_k=2, generations=3))
    states = run(ga, 0, 2)
    assert [ga.is_last(s) for s in states] == [False, False, True]


@pytest.mark.parametrize(
    "kwargs", [{"size": 1}, {"size": 4, "elites": 4}, {"tournament_k": 0}]
)
def test_params_reject_impossible_sizes(kwargs: dict) -> None:
    with pytest.raises(ValidationError):
        PopulationConfig(**kwargs)


def test_individual_key_is_the_genome_hash() -> None:
    ind = Individual(genome=BASELINE_GENOMES["adam"], origin="init")
    assert ind.key == BASELINE_GENOMES["adam"].hash


@pytest.mark.parametrize("fix_bias", [False, True])
def test_toy_fitness_improves_over_generations(fix_bias: bool) -> None:
    params = PopulationConfig(
        size=20, elites=3, tournament_k=4, generations=15, fix_crossover_bias=fix_bias
    )
    states = run(GeneticAlgorithm(params), 2, 15)

    def scores(state: GAState) -> np.ndarray:
        return np.array([toy_fitness(i.genome) for i in state.population])

    first, last = scores(states[0]), scores(states[-1])  # optimum 0, baselines at -1.5
    assert last.max() > first.max() + 0.4
    assert np.median(last) > np.median(first) + 1.0
    assert states[-1].best_fitness == max(scores(s).max() for s in states[:-1])


def test_fixed_crossover_bias_gives_shorter_genomes() -> None:
    """Neutral fitness: only the operators shape term counts (seed drifts to 4 terms)."""

    def lengths(fix_bias: bool) -> float:
        params = PopulationConfig(size=30, elites=0, generations=10, fix_crossover_bias=fix_bias)
        states = run(GeneticAlgorithm(params), 4, 10, score=lambda g: 0.0)
        return float(np.mean([len(i.genome.term_types) for i in states[-1].population]))

    seed_mean, fixed_mean = lengths(False), lengths(True)
    assert seed_mean > 3.5 and fixed_mean < 3.0
