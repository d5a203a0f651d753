"""Genetic operators over genomes: pure functions of a ``numpy.random.Generator``.

The operators follow the seed notebook (``evolutionary_optimizer_colab.ipynb``, see
``seed-algorithms.md`` section 3) draw for draw in structure; the seed used Python's
``random`` module, we use a numpy Generator, so the numbers differ but the distributions
and the order of the decisions do not.

* :func:`random_genome`: K ~ U{1..3} terms of uniform type (over the allowed term set:
  the seed's seven, or with ``population.terms: extended`` also LION and NADAM), alphas ~ U(-1, 1),
  lr_log10 ~ U(-4, -2), beta1 ~ U(0.5, 0.99), beta2 ~ U(0.9, 0.9999), eps_log10 ~ U(-9, -6),
  wd_log10 ~ U(-5, -3), P(use_m) = P(use_v) = 0.7, P(bias correction) = 0.6,
  P(clipping) = 0.2, clip_value ~ U(0.5, 2), P(warmup) = 0.3, warmup_steps ~ U{50..200},
  P(cosine) = 0.3.
* :func:`initial_population`: the seed's four baselines (SGD-momentum, Adam, AdamW,
  RMSProp) then random genomes.
* :func:`tournament_select`: k distinct indices, the fittest wins.
* :func:`crossover`: one cut in each parent's term list, scalars and flags 50/50.
* :func:`mutate`: numeric, structural and flag mutation with annealed rates
  (:func:`mutation_rates`) and the seed's clamps (:data:`CLAMPS`).

Example::

    >>> rng = np.random.default_rng(0)
    >>> a, b = random_genome(rng), random_genome(rng)
    >>> child = mutate(rng, crossover(rng, a, b), generation=0, max_generations=50)
    >>> 1 <= len(child.term_types) <= 4
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from optimizers.baselines import BASELINE_GENOMES
from optimizers.genome import EXTENDED_TERMS, MAX_TERMS, SCALED_TERMS, SEED_TERMS, Genome, Term

TERM_SETS: dict[str, tuple[Term, ...]] = {
    "seed": SEED_TERMS,
    "extended": EXTENDED_TERMS,
    "scaled": SCALED_TERMS,
}
"""The term types random init and structural mutation draw from (``population.terms``).
A draw is ``terms[U{0..len(terms)-1}]``: with the seed's set exactly the draws (and numbers)
of the seed's ``U{0..6}``."""

CLAMPS: dict[str, tuple[float, float]] = {
    "lr_log10": (-5.0, -1.0),
    "beta1": (0.0, 0.999),
    "beta2": (0.0, 0.9999),
    "eps_log10": (-10.0, -4.0),
    "wd_log10": (-6.0, -2.0),
    "alphas": (-5.0, 5.0),
}
"""Bounds a numeric mutation clamps its result to (the seed's values)."""

NUMERIC_STEP_SCALE: dict[str, float] = {
    "lr_log10": 1.0,
    "beta1": 0.2,
    "beta2": 0.1,
    "eps_log10": 1.0,
    "wd_log10": 1.0,
}
"""Std of each additive numeric mutation as a multiple of sigma, in the seed's order."""

FLAG_GENES: tuple[str, ...] = (
    "use_m", "use_v", "use_bias_correction", "use_gradient_clipping", "use_warmup", "use_cosine_decay",
)
"""Flags a flag mutation may flip, in the seed's order (clip_value, warmup_steps never mutate)."""

CROSSOVER_GENES: tuple[str, ...] = (
    "lr_log10", "beta1", "beta2", "eps_log10", "wd_log10", "use_m", "use_v", "use_bias_correction",
    "use_gradient_clipping", "clip_value", "use_warmup", "warmup_steps", "use_cosine_decay",
)
"""Genes a child takes 50/50 from either parent, in the seed's order."""

STRUCTURAL_OPS: tuple[str, ...] = ("add", "remove", "change")


class MutationRates(NamedTuple):
    """Per-generation mutation probabilities and step size."""

    p_numeric: float
    p_structural: float
    p_flag: float
    sigma: float


def mutation_rates(generation: int, max_generations: int) -> MutationRates:
    """The seed's linear annealing of every rate.

    .. math::

        d = 1 - \\tfrac12 \\min(1, \\max(0, g / G)), \\quad
        p_{num} = 0.35 d, \\; p_{struct} = 0.15 d, \\; p_{flag} = 0.10 d, \\; \\sigma = 0.3 d

    with g the 0-based generation being bred from and G ``max_generations``: rates start at
    their full value and reach half of it at the last generation. (The seed never asks
    beyond G; the clamp of g / G to [0, 1] keeps the rates positive if a run is extended.)
    """
    if max_generations < 1:
        raise ValueError(f"max_generations must be >= 1, got {max_generations}")
    decay = 1.0 - 0.5 * min(1.0, max(0.0, generation / max_generations))
    return MutationRates(
        p_numeric=0.35 * decay, p_structural=0.15 * decay, p_flag=0.10 * decay, sigma=0.3 * decay
    )


# -- creation -----------------------------------------------------------------------------


def _draw_term(rng: np.random.Generator, terms: Sequence[Term]) -> int:
    """One term type, uniform over ``terms`` (one integer draw)."""
    return int(terms[int(rng.integers(0, len(terms)))])


def random_genome(rng: np.random.Generator, terms: Sequence[Term] = SEED_TERMS) -> Genome:
    """A genome drawn from the seed's initial distribution (module docstring), its term
    types uniform over ``terms``."""
    n_terms = int(rng.integers(1, 4))
    term_types = [_draw_term(rng, terms) for _ in range(n_terms)]
    alphas = [float(rng.uniform(-1.0, 1.0)) for _ in range(n_terms)]
    return Genome(
        term_types=term_types,
        alphas=alphas,
        lr_log10=float(rng.uniform(-4.0, -2.0)),
        beta1=float(rng.uniform(0.5, 0.99)),
        beta2=float(rng.uniform(0.9, 0.9999)),
        eps_log10=float(rng.uniform(-9.0, -6.0)),
        wd_log10=float(rng.uniform(-5.0, -3.0)),
        use_m=bool(rng.random() < 0.7),
        use_v=bool(rng.random() < 0.7),
        use_bias_correction=bool(rng.random() < 0.6),
        use_gradient_clipping=bool(rng.random() < 0.2),
        clip_value=float(rng.uniform(0.5, 2.0)),
        use_warmup=bool(rng.random() < 0.3),
        warmup_steps=int(rng.integers(50, 201)),
        use_cosine_decay=bool(rng.random() < 0.3),
        # the scaled set also draws the trust-ratio flag (one more draw, after the seed's)
        use_trust_ratio=bool(rng.random() < 0.3) if _scaled(terms) else False,
    )


def _scaled(terms: Sequence[Term]) -> bool:
    """The term set holds ORTHO (``population.terms: scaled``): the trust-ratio flag evolves too."""
    return Term.ORTHO in terms


def initial_population(
    rng: np.random.Generator, size: int, seeded: bool = True, terms: Sequence[Term] = SEED_TERMS
) -> list[Genome]:
    """The seed's generation 0: SGD-momentum, Adam, AdamW, RMSProp, then random genomes.

    A population smaller than 4 keeps the first ``size`` baselines (the seed would return
    all four whatever the size). ``seeded=False`` (``population.init: random``): random
    genomes only, so the search has to rediscover what the baselines know. Random genomes draw
    their term types from ``terms``.
    """
    if size < 1:
        raise ValueError(f"population size must be >= 1, got {size}")
    population = list(BASELINE_GENOMES.values())[:size] if seeded else []
    while len(population) < size:
        population.append(random_genome(rng, terms))
    return population


# -- selection ----------------------------------------------------------------------------


def tournament_select(rng: np.random.Generator, fitness: Sequence[float] | np.ndarray, k: int) -> int:
    """Index of the fittest of ``min(k, n)`` distinct indices drawn uniformly.

    Ties go to the contestant drawn first (the seed's ``max`` over its sample). NaN must
    already be mapped to ``-inf`` by the caller (see :func:`evo.search.ga.ranking_fitness`).
    """
    values = np.asarray(fitness, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError("fitness must be a non-empty 1-D sequence")
    if k < 1:
        raise ValueError(f"tournament size k must be >= 1, got {k}")
    contestants = rng.choice(values.size, size=min(k, values.size), replace=False)
    return int(contestants[int(np.argmax(values[contestants]))])


# -- crossover ----------------------------------------------------------------------------


def crossover(
    rng: np.random.Generator, parent_a: Genome, parent_b: Genome, fix_bias: bool = False
) -> Genome:
    """One-point crossover of the term lists; every other gene 50/50 from either parent.

    The child's terms are ``a[:i] + b[j:]`` truncated to 4, with ``i ~ U{1..len(a)}``.

    * Seed behaviour (``fix_bias=False``): ``j ~ U{0..len(b)-1}``, so b always contributes
      at least one term and **every child has >= 2 terms**; the expected length
      ``(len(a) + 1) / 2 + (len(b) + 1) / 2`` exceeds the parents' mean by one. This is the
      pressure that fills late seed populations with duplicated terms (its best genome is
      SIGN, SIGN, ADAM, ADAM).
    * ``fix_bias=True``: ``j ~ U{1..len(b)}``, so b's part may be empty; a child may have a
      single term and its expected length (before truncation) is the parents' mean
      ``(len(a) + len(b)) / 2``.
    """
    len_a, len_b = len(parent_a.term_types), len(parent_b.term_types)
    cut_a = int(rng.integers(1, len_a + 1)) if len_a > 1 else 1
    cut_b = int(rng.integers(1, len_b + 1)) if fix_bias else int(rng.integers(0, max(0, len_b - 1) + 1))
    term_types = [*parent_a.term_types[:cut_a], *parent_b.term_types[cut_b:]][:MAX_TERMS]
    alphas = [*parent_a.alphas[:cut_a], *parent_b.alphas[cut_b:]][:MAX_TERMS]
    genes: dict[str, Any] = {"term_types": term_types, "alphas": alphas}
    for name in CROSSOVER_GENES:
        source = parent_a if rng.random() < 0.5 else parent_b
        genes[name] = getattr(source, name)
    genes["use_trust_ratio"] = parent_a.use_trust_ratio  # no draw: seed and extended runs unchanged
    return Genome(**genes)


# -- mutation -----------------------------------------------------------------------------


def _clamp(value: float, gene: str) -> float:
    low, high = CLAMPS[gene]
    return float(min(high, max(low, value)))


def mutate_numeric(rng: np.random.Generator, genome: Genome, rates: MutationRates) -> Genome:
    """Perturb each numeric gene independently with probability ``p_numeric``.

    Additive Gaussian steps ``x <- clamp(x + N(0, s sigma))`` for lr_log10, beta1, beta2,
    eps_log10, wd_log10 (s in :data:`NUMERIC_STEP_SCALE`), then per alpha (own draw)
    ``alpha <- clamp(alpha exp(N(0, sigma)), -5, 5)``: multiplicative, so an alpha never
    changes sign (and a zero alpha stays zero).
    """
    genes: dict[str, Any] = genome.model_dump()
    for name, scale in NUMERIC_STEP_SCALE.items():
        if rng.random() < rates.p_numeric:
            genes[name] = _clamp(genes[name] + float(rng.normal(0.0, rates.sigma * scale)), name)
    alphas = list(genome.alphas)
    for i, alpha in enumerate(alphas):
        if rng.random() < rates.p_numeric:
            alphas[i] = _clamp(alpha * math.exp(float(rng.normal(0.0, rates.sigma))), "alphas")
    genes["alphas"] = alphas
    return Genome(**genes)


def mutate_structure(
    rng: np.random.Generator, genome: Genome, rates: MutationRates, terms: Sequence[Term] = SEED_TERMS
) -> Genome:
    """With probability ``p_structural`` apply one of add / remove / change, chosen uniformly.

    add (only when K < 4): append a random term with alpha ~ U(-1, 1); remove (only when
    K > 1): drop a random term; change: a random term gets a random type, its alpha kept.
    Random types are uniform over ``terms``.
    As in the seed, an op that is not allowed is a no-op (not redrawn), so K stays in 1..4.
    """
    if not rng.random() < rates.p_structural:
        return genome
    op = STRUCTURAL_OPS[int(rng.integers(0, len(STRUCTURAL_OPS)))]
    term_types, alphas = list(genome.term_types), list(genome.alphas)
    if op == "add" and len(term_types) < MAX_TERMS:
        term_types.append(_draw_term(rng, terms))
        alphas.append(float(rng.uniform(-1.0, 1.0)))
    elif op == "remove" and len(term_types) > 1:
        index = int(rng.integers(0, len(term_types)))
        del term_types[index], alphas[index]
    elif op == "change":
        index = int(rng.integers(0, len(term_types)))
        term_types[index] = _draw_term(rng, terms)
    else:
        return genome
    return Genome(**{**genome.model_dump(), "term_types": term_types, "alphas": alphas})


def mutate_flags(
    rng: np.random.Generator, genome: Genome, rates: MutationRates, terms: Sequence[Term] = SEED_TERMS
) -> Genome:
    """Flip each flag of :data:`FLAG_GENES` independently with probability ``p_flag`` (with
    the scaled term set, then also ``use_trust_ratio``)."""
    genes: dict[str, Any] = genome.model_dump()
    for name in (*FLAG_GENES, "use_trust_ratio") if _scaled(terms) else FLAG_GENES:
        if rng.random() < rates.p_flag:
            genes[name] = not genes[name]
    return Genome(**genes)


def mutate(
    rng: np.random.Generator,
    genome: Genome,
    generation: int,
    max_generations: int,
    terms: Sequence[Term] = SEED_TERMS,
) -> Genome:
    """The seed's mutation: numeric, then structural, then flags, at annealed rates.

    Args:
        rng: the GA's generator (advanced in place).
        genome: the genome to mutate (not modified: genomes are frozen).
        generation: 0-based index of the generation the parents come from.
        max_generations: the run's generation count (sets the annealing, :func:`mutation_rates`).
        terms: the term types a structural mutation may draw (:data:`TERM_SETS`).
    Returns:
        A new genome; equal to ``genome`` when no mutation fired.
    """
    rates = mutation_rates(generation, max_generations)
    genome = mutate_numeric(rng, genome, rates)
    genome = mutate_structure(rng, genome, rates, terms)
    return mutate_flags(rng, genome, rates, terms)
