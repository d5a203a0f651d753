"""``population.terms``: which term types random init and structural mutation draw.

``seed`` (the default) must draw exactly what the operators drew before the extended terms
existed (golden digests from main 17f816e), ``extended`` must reach LION and NADAM.
"""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np
import pytest

from evo.config.schema import ConfigError, PopulationConfig, load_config
from evo.search import operators as ops
from evo.search.ga import GeneticAlgorithm
from optimizers.genome import EXTENDED_TERMS, SCALED_TERMS, SEED_TERMS, Term

EXTENDED_DIGEST = "cc2656368aa676bd"
"""_digest(_ga_hashes("extended")) on main 2fd9c4b, before the scaled set existed."""
FULL = ops.MutationRates(p_numeric=1.0, p_structural=1.0, p_flag=1.0, sigma=0.3)


def _digest(hashes: list[str]) -> str:
    return hashlib.sha256(",".join(hashes).encode()).hexdigest()[:16]


def _ga_hashes(terms: str) -> list[str]:
    ga = GeneticAlgorithm(PopulationConfig(size=30, elites=2, generations=8, init="random", terms=terms))
    state, fitness_rng = ga.init(7), np.random.default_rng(1)
    hashes = []
    for _ in range(8):
        hashes += [ind.genome.hash for ind in state.population]
        state = ga.tell(state, fitness_rng.random(len(state.population)))
    return hashes


def test_seed_terms_draw_exactly_as_before() -> None:
    """Digests of 200 random genomes and of 8 GA generations, computed by main 17f816e."""
    rng = np.random.default_rng(0)
    assert _digest([ops.random_genome(rng).hash for _ in range(200)]) == "30d823c450b80e4c"
    assert _digest(_ga_hashes("seed")) == "c510c227d5b9d9ec"


def _terms_of(genomes) -> Counter:
    return Counter(int(t) for g in genomes for t in g.term_types)


@pytest.mark.parametrize(
    ("name", "allowed"), [("seed", SEED_TERMS), ("extended", EXTENDED_TERMS), ("scaled", SCALED_TERMS)]
)
def test_random_init_draws_uniformly_from_the_allowed_set(name: str, allowed) -> None:
    rng = np.random.default_rng(3)
    genomes = ops.initial_population(rng, 3000, seeded=False, terms=ops.TERM_SETS[name])
    counts = _terms_of(genomes)
    assert set(counts) == {int(t) for t in allowed}
    expected = sum(counts.values()) / len(allowed)
    assert all(abs(c - expected) < 0.1 * expected for c in counts.values()), counts


@pytest.mark.parametrize(
    ("name", "allowed"), [("seed", SEED_TERMS), ("extended", EXTENDED_TERMS), ("scaled", SCALED_TERMS)]
)
def test_structural_mutation_draws_from_the_allowed_set(name: str, allowed) -> None:
    """Both ops that draw a type (add: one more term; change: same length) reach exactly the
    allowed set, through :func:`mutate` as the GA calls it."""
    rng = np.random.default_rng(4)
    parents = [ops.random_genome(rng) for _ in range(4000)]  # seed terms only
    drawn = {"add": Counter(), "change": Counter()}
    for parent in parents:
        child = ops.mutate(rng, parent, 0, 10, ops.TERM_SETS[name])
        if len(child.term_types) == len(parent.term_types) + 1:
            drawn["add"][int(child.term_types[-1])] += 1
        elif len(child.term_types) == len(parent.term_types):
            pairs = zip(child.term_types, parent.term_types, strict=True)
            drawn["change"] += Counter(int(t) for t, u in pairs if t != u)
    for op, counts in drawn.items():
        assert set(counts) <= {int(t) for t in allowed}, op
        assert set(counts) >= set(range(7, len(allowed))), op  # the extended set's terms appear


def test_extended_search_breeds_lion_and_nadam() -> None:
    ga = GeneticAlgorithm(PopulationConfig(size=20, elites=2, generations=5, terms="extended"))
    state, fitness_rng, seen = ga.init(0), np.random.default_rng(2), Counter()
    for _ in range(5):
        seen += _terms_of(ind.genome for ind in state.population)
        state = ga.tell(state, fitness_rng.random(len(state.population)))
    assert seen[Term.LION] > 0 and seen[Term.NADAM] > 0


def test_extended_terms_draw_exactly_as_before_the_scaled_set() -> None:
    """The extended set's GA digest, computed before ORTHO and the trust-ratio flag existed."""
    assert _digest(_ga_hashes("extended")) == EXTENDED_DIGEST


def test_scaled_search_breeds_ortho_and_the_trust_ratio() -> None:
    ga = GeneticAlgorithm(PopulationConfig(size=20, elites=2, generations=5, terms="scaled"))
    state, fitness_rng, seen, trusting = ga.init(0), np.random.default_rng(2), Counter(), 0
    for _ in range(5):
        seen += _terms_of(ind.genome for ind in state.population)
        trusting += sum(ind.genome.use_trust_ratio for ind in state.population)
        state = ga.tell(state, fitness_rng.random(len(state.population)))
    assert seen[Term.ORTHO] > 0 and trusting > 0
    rng = np.random.default_rng(5)
    half = ops.MutationRates(p_numeric=0.0, p_structural=0.0, p_flag=0.5, sigma=0.3)
    flipped = [ops.mutate_flags(rng, ops.random_genome(rng), half, SCALED_TERMS) for _ in range(50)]
    assert any(g.use_trust_ratio for g in flipped) and not all(g.use_trust_ratio for g in flipped)


def test_config_field() -> None:
    assert PopulationConfig().terms == "seed"
    cfg = load_config("configs/quick.yaml", ["population.terms=extended"])
    assert cfg.population.terms == "extended"
    with pytest.raises(ConfigError, match="terms"):
        load_config("configs/quick.yaml", ["population.terms=lion"])
