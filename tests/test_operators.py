"""The GA operators alone: distributions, clamps, term bounds, crossover bias, annealing."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest

from evo.search import operators as ops
from optimizers.baselines import BASELINE_GENOMES
from optimizers.genome import MAX_TERMS, SEED_TERMS, Genome, Term

N_DRAWS = 4000


def random_genomes(seed: int, n: int) -> list[Genome]:
    rng = np.random.default_rng(seed)
    return [ops.random_genome(rng) for _ in range(n)]


# -- creation -----------------------------------------------------------------------------


def test_random_genome_follows_the_seed_distribution() -> None:
    genomes = random_genomes(0, N_DRAWS)
    counts = Counter(len(g.term_types) for g in genomes)
    assert set(counts) == {1, 2, 3}
    for k in (1, 2, 3):
        assert counts[k] / N_DRAWS == pytest.approx(1 / 3, abs=0.03)
    types = Counter(t for g in genomes for t in g.term_types)
    assert set(types) == set(SEED_TERMS)  # the default term set: the seed's seven
    ranges = {
        "lr_log10": (-4, -2), "beta1": (0.5, 0.99), "beta2": (0.9, 0.9999), "eps_log10": (-9, -6),
        "wd_log10": (-5, -3), "clip_value": (0.5, 2.0),
    }
    for name, (low, high) in ranges.items():
        values = np.array([getattr(g, name) for g in genomes])
        assert values.min() >= low and values.max() <= high, name
        assert values.mean() == pytest.approx((low + high) / 2, abs=0.03 * (high - low)), name
    alphas = np.array([a for g in genomes for a in g.alphas])
    assert alphas.min() >= -1 and alphas.max() <= 1
    warmups = np.array([g.warmup_steps for g in genomes])
    assert warmups.min() == 50 and warmups.max() == 200
    probabilities = {
        "use_m": 0.7, "use_v": 0.7, "use_bias_correction": 0.6, "use_gradient_clipping": 0.2,
        "use_warmup": 0.3, "use_cosine_decay": 0.3,
    }
    for name, p in probabilities.items():
        assert np.mean([getattr(g, name) for g in genomes]) == pytest.approx(p, abs=0.03), name


def test_initial_population_starts_with_the_seed_baselines() -> None:
    population = ops.initial_population(np.random.default_rng(1), 10)
    assert len(population) == 10
    assert population[:4] == list(BASELINE_GENOMES.values())
    assert len({g.hash for g in population[4:]}) == 6
    assert ops.initial_population(np.random.default_rng(1), 2) == list(BASELINE_GENOMES.values())[:2]
    with pytest.raises(ValueError, match="population size"):
        ops.initial_population(np.random.default_rng(1), 0)


# -- tournament ---------------------------------------------------------------------------


def test_tournament_draws_k_distinct_contestants_and_the_best_wins() -> None:
    """Fitness = index: P(winner = i) = C(i, k-1) / C(n, k) for k distinct contestants."""
    n, k = 10, 4
    rng = np.random.default_rng(2)
    fitness = np.arange(n, dtype=float)
    wins = Counter(ops.tournament_select(rng, fitness, k) for _ in range(N_DRAWS))
    # with distinct contestants the k-1 worst can never win (with replacement they could)
    assert min(wins) == k - 1
    for i in range(n):
        expected = math.comb(i, k - 1) / math.comb(n, k)
        assert wins[i] / N_DRAWS == pytest.approx(expected, abs=0.025), i


def test_tournament_replays_its_draws() -> None:
    fitness = np.random.default_rng(3).normal(size=12)
    rng, replay = np.random.default_rng(4), np.random.default_rng(4)
    for _ in range(200):
        winner = ops.tournament_select(rng, fitness, 4)
        contestants = replay.choice(12, size=4, replace=False)
        assert len(set(contestants)) == 4
        assert winner in contestants and fitness[winner] == fitness[contestants].max()


def test_tournament_with_k_at_least_n_is_argmax_and_ties_go_to_first_drawn() -> None:
    rng = np.random.default_rng(5)
    fitness = np.array([0.1, 0.9, -np.inf, 0.5])
    assert {ops.tournament_select(rng, fitness, 10) for _ in range(50)} == {1}
    tied = np.zeros(5)
    rng, replay = np.random.default_rng(6), np.random.default_rng(6)
    for _ in range(50):
        assert ops.tournament_select(rng, tied, 3) == replay.choice(5, size=3, replace=False)[0]


@pytest.mark.parametrize(("fitness", "k"), [([], 2), ([1.0], 0)])
def test_tournament_rejects_bad_arguments(fitness: list[float], k: int) -> None:
    with pytest.raises(ValueError):
        ops.tournament_select(np.random.default_rng(0), fitness, k)


# -- crossover ----------------------------------------------------------------------------


def crossover_children(fix_bias: bool, seed: int = 7) -> list[tuple[Genome, Genome, Genome]]:
    rng = np.random.default_rng(seed)
    parents = random_genomes(seed, 2 * N_DRAWS)
    pairs = zip(parents[::2], parents[1::2], strict=True)
    return [(a, b, ops.crossover(rng, a, b, fix_bias=fix_bias)) for a, b in pairs]


def test_seed_crossover_children_always_have_at_least_two_terms() -> None:
    triples = crossover_children(fix_bias=False)
    lengths = np.array([len(c.term_types) for _, _, c in triples])
    assert lengths.min() == 2 and lengths.max() <= MAX_TERMS
    single = Genome(term_types=[Term.SIGN_GRAD], alphas=[0.5])
    other = Genome(term_types=[Term.ADAM_TERM], alphas=[2.0])
    child = ops.crossover(np.random.default_rng(0), single, other)
    assert child.terms == ((Term.SIGN_GRAD, 0.5), (Term.ADAM_TERM, 2.0))
    # the bias: untruncated expected length = parents' mean + 1
    parent_mean = np.mean([(len(a.term_types) + len(b.term_types)) / 2 for a, b, _ in triples])
    short = [(a, b, c) for a, b, c in triples if len(a.term_types) + len(b.term_types) <= 4]
    excess = np.mean([len(c.term_types) - (len(a.term_types) + len(b.term_types)) / 2 for a, b, c in short])
    assert excess == pytest.approx(1.0, abs=0.05)
    assert lengths.mean() > parent_mean + 0.5


def test_fixed_crossover_allows_single_terms_and_keeps_the_mean_length() -> None:
    triples = crossover_children(fix_bias=True)
    lengths = Counter(len(c.term_types) for _, _, c in triples)
    assert lengths[1] > 0.1 * N_DRAWS and max(lengths) <= MAX_TERMS
    short = [(a, b, c) for a, b, c in triples if len(a.term_types) + len(b.term_types) <= 4]
    excess = np.mean([len(c.term_types) - (len(a.term_types) + len(b.term_types)) / 2 for a, b, c in short])
    assert excess == pytest.approx(0.0, abs=0.05)


@pytest.mark.parametrize("fix_bias", [False, True])
def test_crossover_takes_a_prefix_of_a_then_a_suffix_of_b_and_genes_from_either(fix_bias: bool) -> None:
    from_a = Counter()
    for a, b, child in crossover_children(fix_bias, seed=8)[:1000]:
        ta, tb = a.terms, b.terms
        cuts_b = range(1, len(tb) + 1) if fix_bias else range(0, len(tb))
        assert any(
            child.terms == (ta[:i] + tb[j:])[:MAX_TERMS] for i in range(1, len(ta) + 1) for j in cuts_b
        ), (ta, tb, child.terms)
        for name in ops.CROSSOVER_GENES:
            value = getattr(child, name)
            assert value in (getattr(a, name), getattr(b, name)), name
            if getattr(a, name) != getattr(b, name):
                from_a[value == getattr(a, name)] += 1
    assert from_a[True] / from_a.total() == pytest.approx(0.5, abs=0.03)


# -- mutation -----------------------------------------------------------------------------


def test_mutation_rates_anneal_linearly_to_half() -> None:
    start, end = ops.mutation_rates(0, 50), ops.mutation_rates(50, 50)
    assert start == pytest.approx((0.35, 0.15, 0.10, 0.3))
    assert end == pytest.approx(tuple(0.5 * r for r in start))
    series = [ops.mutation_rates(g, 50) for g in range(51)]
    for field in range(4):
        values = [r[field] for r in series]
        assert all(x > y for x, y in itertools.pairwise(values))
    assert ops.mutation_rates(500, 50) == end  # clamped beyond the run
    with pytest.raises(ValueError):
        ops.mutation_rates(0, 0)


def test_annealing_lowers_the_observed_mutation_frequency() -> None:
    base = BASELINE_GENOMES["adam"]

    def changed_fraction(generation: int, gene: str) -> float:
        rng = np.random.default_rng(9)
        mutants = [ops.mutate(rng, base, generation, 50) for _ in range(N_DRAWS)]
        return float(np.mean([getattr(m, gene) != getattr(base, gene) for m in mutants]))

    early, late = changed_fraction(0, "lr_log10"), changed_fraction(49, "lr_log10")
    assert early == pytest.approx(0.35, abs=0.03)
    assert late == pytest.approx(0.35 * (1 - 0.5 * 49 / 50), abs=0.03)
    assert changed_fraction(0, "use_warmup") == pytest.approx(0.10, abs=0.02)
    assert changed_fraction(49, "use_warmup") == pytest.approx(0.10 * 0.51, abs=0.015)


EXTREME = Genome(
    term_types=[Term.GRAD, Term.SIGN_GRAD, Term.ADAM_TERM, Term.MOMENTUM],
    alphas=[5.0, -5.0, 4.9, -4.9],
    lr_log10=-1.0, beta1=0.999, beta2=0.9999, eps_log10=-4.0, wd_log10=-2.0,
)
FULL_RATES = ops.MutationRates(p_numeric=1.0, p_structural=1.0, p_flag=1.0, sigma=2.0)


def test_numeric_mutation_respects_clamps_and_never_flips_an_alpha_sign() -> None:
    rng = np.random.default_rng(10)
    for start in [EXTREME, *random_genomes(11, 200)]:
        genome = start
        for _ in range(5):
            genome = ops.mutate_numeric(rng, genome, FULL_RATES)
            for name, (low, high) in ops.CLAMPS.items():
                values = genome.alphas if name == "alphas" else (getattr(genome, name),)
                assert all(low <= v <= high for v in values), (name, values)
            assert np.array_equal(np.sign(genome.alphas), np.sign(start.alphas))
            assert genome.term_types == start.term_types
            assert (genome.clip_value, genome.warmup_steps) == (start.clip_value, start.warmup_steps)
    zero = Genome(term_types=[Term.GRAD], alphas=[0.0])
    assert ops.mutate_numeric(rng, zero, FULL_RATES).alphas == (0.0,)


def test_numeric_mutation_sizes_follow_sigma() -> None:
    rng = np.random.default_rng(12)
    rates = ops.MutationRates(p_numeric=1.0, p_structural=0.0, p_flag=0.0, sigma=0.1)
    base = Genome(lr_log10=-3.0, beta1=0.5, beta2=0.5, eps_log10=-7.0, wd_log10=-4.0, alphas=[1.0])
    mutants = [ops.mutate_numeric(rng, base, rates) for _ in range(N_DRAWS)]
    for name, scale in ops.NUMERIC_STEP_SCALE.items():
        steps = np.array([getattr(m, name) - getattr(base, name) for m in mutants])
        assert steps.std() == pytest.approx(0.1 * scale, rel=0.06), name
    log_ratio = np.log([m.alphas[0] for m in mutants])
    assert log_ratio.std() == pytest.approx(0.1, rel=0.06)


def test_structural_mutation_keeps_one_to_four_terms_and_uses_all_ops() -> None:
    rng = np.random.default_rng(13)
    genome = Genome()
    seen_lengths = Counter()
    for _ in range(N_DRAWS):
        before = genome
        genome = ops.mutate_structure(rng, genome, FULL_RATES)
        assert 1 <= len(genome.term_types) <= MAX_TERMS
        delta = len(genome.term_types) - len(before.term_types)
        assert delta in (-1, 0, 1)
        if delta == 0 and genome != before:  # change: one type differs, alphas kept
            assert genome.alphas == before.alphas
            assert sum(x != y for x, y in zip(genome.term_types, before.term_types, strict=True)) == 1
        seen_lengths[len(genome.term_types)] += 1
    assert set(seen_lengths) == {1, 2, 3, 4}
    never = ops.MutationRates(p_numeric=0.0, p_structural=0.0, p_flag=0.0, sigma=0.3)
    assert ops.mutate_structure(rng, EXTREME, never) is EXTREME


def test_flag_mutation_flips_only_flags() -> None:
    rng = np.random.default_rng(14)
    flipped = ops.mutate_flags(rng, EXTREME, FULL_RATES)
    for name in ops.FLAG_GENES:
        assert getattr(flipped, name) is not getattr(EXTREME, name)
    untouched = set(Genome.model_fields) - set(ops.FLAG_GENES)
    assert {n: getattr(flipped, n) for n in untouched} == {n: getattr(EXTREME, n) for n in untouched}


def test_clamps_hold_over_many_generations_of_crossover_and_mutation() -> None:
    rng = np.random.default_rng(15)
    population = random_genomes(16, 50)
    for generation in range(30):
        population = [
            ops.mutate(rng, ops.crossover(rng, a, b), generation, 30)
            for a, b in zip(population, population[::-1], strict=True)
        ]
        for g in population:
            assert 1 <= len(g.term_types) <= MAX_TERMS
            for name, (low, high) in ops.CLAMPS.items():
                values = g.alphas if name == "alphas" else (getattr(g, name),)
                assert all(low <= v <= high for v in values), (name, values)


@pytest.mark.parametrize("fix_bias", [False, True])
def test_every_genome_the_operators_make_has_a_canonical_hash(fix_bias: bool) -> None:
    """The store and the evaluation cache key on ``Genome.hash``: it must exist for all outputs."""
    rng = np.random.default_rng(17)
    population = random_genomes(18, 40)
    for generation in range(20):
        population = [
            ops.mutate(rng, ops.crossover(rng, a, b, fix_bias=fix_bias), generation, 20)
            for a, b in zip(population, population[1:] + population[:1], strict=True)
        ]
        assert all(len(g.hash) == 16 for g in population)
    nesterov_plus_three = Genome(
        term_types=[Term.NESTEROV, Term.RMS_NORM, Term.SIGN_GRAD, Term.SQRT_GRAD], alphas=[1.0, 1.0, 1.0, 1.0]
    )
    assert len(nesterov_plus_three.hash) == 16
