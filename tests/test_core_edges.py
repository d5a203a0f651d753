"""Edge cases of the core the mutation run found unpinned (see README, Development).

Each assertion here kills mutants that survived the targeted test selection: the budget
key's default split, tournament selection on one contestant or one individual, the
smallest initial population, the fitness helpers' windows and empty inputs, and the
rule optimizer's default schedule horizon.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from evo.search import operators as ops
from evo.search.aggregation import task_fitness
from optimizers.baselines import BASELINE_GENOMES
from optimizers.genome import Genome
from optimizers.rule_optimizer import RuleOptimizer
from workers import budget_key
from workers.fitness import mean_last_losses, seed_fitness


def test_budget_key_defaults_to_the_val_split_and_names_steps_and_split() -> None:
    assert budget_key(5) == budget_key(5, "val")
    keys = {budget_key(5, "val"), budget_key(6, "val"), budget_key(5, "test"), budget_key(6, "test")}
    assert len(keys) == 4


def test_tournament_select_handles_one_individual_and_k_one() -> None:
    rng = np.random.default_rng(0)
    assert ops.tournament_select(rng, [0.3], k=4) == 0
    picks = {ops.tournament_select(rng, [0.1, 0.9, 0.5], k=1) for _ in range(60)}
    assert picks == {0, 1, 2}  # one contestant: whoever is drawn wins
    assert {ops.tournament_select(rng, [0.1, 0.9, 0.5], k=3) for _ in range(10)} == {1}
    assert ops.tournament_select(rng, [1, 3, 2], k=3) == 1  # plain ints are fitness too
    for bad, k in (([], 2), ([[0.1, 0.2]], 2), ([0.1, 0.2], 0)):
        with pytest.raises(ValueError, match=r"fitness must be|tournament size"):
            ops.tournament_select(rng, bad, k)


def test_smallest_initial_population_is_the_first_baseline() -> None:
    first = next(iter(BASELINE_GENOMES.values()))
    assert ops.initial_population(np.random.default_rng(0), 1) == [first]
    with pytest.raises(ValueError, match="population size"):
        ops.initial_population(np.random.default_rng(0), 0)


def test_fitness_helpers_average_windows_and_empty_input() -> None:
    assert mean_last_losses([1.0, 2.0, 3.0, 4.0], window=2) == 3.5
    assert mean_last_losses([1.0, 2.0, 3.0, 4.0], window=10) == 2.5
    assert mean_last_losses([]) is None
    assert seed_fitness(0.7, None) == 0.7  # no losses: no bonus
    assert seed_fitness(0.7, 0.5) == pytest.approx(0.725) and seed_fitness(0.7, 3.0) == 0.7
    assert task_fitness([0.2, 0.4]) == pytest.approx(0.3)
    assert math.isnan(task_fitness([]))


def test_rule_optimizer_schedules_over_the_seeds_1000_steps_by_default() -> None:
    p = torch.nn.Parameter(torch.zeros(2))
    assert RuleOptimizer([p], Genome().to_seed_dict()).param_groups[0]["total_steps"] == 1000


def test_rule_optimizer_refuses_a_raw_genome_whose_terms_and_alphas_differ_in_length() -> None:
    """Raw seed dicts (the exported file's ``genome=``) skip pydantic: the rule checks itself."""
    p = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError):
        RuleOptimizer([p], {**Genome().to_seed_dict(), "term_types": [0, 3], "alphas": [1.0]})
