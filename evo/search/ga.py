"""The seed's genetic algorithm as ask/tell over an explicit, serialisable state.

Like evosax, the :class:`GeneticAlgorithm` object holds only frozen hyperparameters (the
job config's population section, :class:`evo.config.schema.PopulationConfig`); everything that
changes between generations lives in a :class:`GAState` record (generation, population,
best-so-far, numpy RNG state) that the driver stores and resumes from::

    ga = GeneticAlgorithm(PopulationConfig(size=8, generations=3))
    state = ga.init(seed=42)                       # generation 0
    while True:
        population = ga.ask(state)                 # evaluate these
        fitness = [score(ind.genome) for ind in population]
        if ga.is_last(state):
            break
        state = ga.tell(state, fitness)            # next generation, RNG advanced

One generation of :meth:`GeneticAlgorithm.tell` (seed notebook, section 3 of
``seed-algorithms.md``): the ``elites`` fittest individuals are copied unchanged; every
other slot is ``mutate(crossover(p1, p2))`` with p1, p2 from two independent tournaments
(p1 may equal p2) and mutation rates annealed by the generation bred from. NaN fitness
ranks as -inf (last, like evosax); ties go to the lower slot. Same seed and same fitness sequence give
the same populations, also across a JSON round trip of the state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_serializer

from evo.config.schema import PopulationConfig
from evo.search.operators import TERM_SETS, crossover, initial_population, mutate, tournament_select
from optimizers.genome import Genome

Origin = Literal["init", "elite", "crossover", "mutation"]


class Individual(BaseModel):
    """A population member and where it came from.

    ``origin``: ``init`` (generation 0), ``elite`` (copied unchanged from the previous
    generation), ``crossover`` (crossover child that no mutation changed) or ``mutation``
    (crossover child changed by at least one mutation). ``parents`` are genome hashes: the
    two tournament winners for children, the genome itself for elites, none at init.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    genome: Genome
    origin: Origin
    parents: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The genome's canonical hash (the evaluation-cache key)."""
        return self.genome.hash


class GAState(BaseModel):
    """Everything that changes between generations; JSON-serialisable.

    ``rng_state`` is the numpy ``PCG64`` bit-generator state to use for breeding the next
    generation (i.e. after ``population`` was drawn). ``best_fitness`` is ``-inf`` until a
    finite fitness was told; in JSON mode non-finite floats are written as strings.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    generation: int = Field(ge=0, description="0-based index of `population`.")
    population: tuple[Individual, ...] = Field(min_length=1)
    best_genome: Genome | None = None
    best_fitness: float = float("-inf")
    rng_state: dict[str, Any]

    @field_serializer("best_fitness", when_used="json")
    def _finite_or_string(self, value: float) -> float | str:
        return value if math.isfinite(value) else str(value)


def ranking_fitness(fitness: Sequence[float] | np.ndarray) -> np.ndarray:
    """Fitness as float64 with NaN mapped to -inf, so that a NaN ranks last."""
    values = np.asarray(fitness, dtype=np.float64)
    return np.where(np.isnan(values), -np.inf, values)


def elite_indices(fitness: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` fittest, best first; ties keep slot order (stable sort)."""
    return np.argsort(-fitness, kind="stable")[:n]


def _generator(rng_state: dict[str, Any]) -> np.random.Generator:
    bit_generator = np.random.PCG64()
    bit_generator.state = rng_state
    return np.random.Generator(bit_generator)


class GeneticAlgorithm:
    """Ask/tell GA over genomes; the object holds only its hyperparameters.

    Args:
        params: population size, elites, tournament size, generations (which also set the
            mutation annealing) and the crossover-bias fix; default: the seed's.
    """

    def __init__(self, params: PopulationConfig | None = None) -> None:
        self.params = params or PopulationConfig()

    def init(self, seed: int) -> GAState:
        """Generation 0 from ``seed``: the seed's four baselines (not with ``init: random``), then random."""
        rng = np.random.Generator(np.random.PCG64(seed))
        genomes = initial_population(
            rng, self.params.size, seeded=self.params.init == "seeded", terms=TERM_SETS[self.params.terms]
        )
        return GAState(
            generation=0,
            population=tuple(Individual(genome=g, origin="init") for g in genomes),
            rng_state=rng.bit_generator.state,
        )

    def ask(self, state: GAState) -> tuple[Individual, ...]:
        """The individuals to evaluate for ``state.generation``."""
        return state.population

    def is_last(self, state: GAState) -> bool:
        """True when ``state.population`` is the last generation to evaluate."""
        return state.generation >= self.params.generations - 1

    def tell(
        self, state: GAState, fitness: Sequence[float] | np.ndarray, parents: Sequence[Genome] | None = None
    ) -> GAState:
        """Record ``fitness`` (one value per individual, higher is better) and breed.

        ``parents`` (one genome per individual, e.g. lr re-centred by :mod:`evo.search.lr_recentre`)
        replaces each individual's genome as a crossover parent; elites and best-so-far keep
        the evaluated genomes. None: breed from the population itself.

        Returns:
            The next state: ``generation + 1``, a new population of ``size``,
            best-so-far updated (strict improvement; the lowest slot wins ties) and the
            RNG advanced.
        Raises:
            ValueError: when ``fitness`` does not have one value per individual.
        """
        population = state.population
        if len(fitness) != len(population):
            raise ValueError(f"got {len(fitness)} fitness values for {len(population)} individuals")
        if parents is not None and len(parents) != len(population):
            raise ValueError(f"got {len(parents)} parents for {len(population)} individuals")
        breed = [ind.genome for ind in population] if parents is None else list(parents)
        ranked = ranking_fitness(fitness)

        best_genome, best_fitness = state.best_genome, state.best_fitness
        top = int(np.argmax(ranked))
        if ranked[top] > best_fitness:
            best_genome, best_fitness = population[top].genome, float(ranked[top])

        rng = _generator(state.rng_state)
        hashes = [ind.key for ind in population]
        terms = TERM_SETS[self.params.terms]
        offspring = [
            Individual(genome=population[i].genome, origin="elite", parents=(hashes[i],))
            for i in elite_indices(ranked, self.params.elites)
        ]
        while len(offspring) < self.params.size:
            i = tournament_select(rng, ranked, self.params.tournament_k)
            j = tournament_select(rng, ranked, self.params.tournament_k)
            child = crossover(rng, breed[i], breed[j], self.params.fix_crossover_bias)
            mutant = mutate(rng, child, state.generation, self.params.generations, terms)
            origin: Origin = "crossover" if mutant == child else "mutation"
            offspring.append(Individual(genome=mutant, origin=origin, parents=(hashes[i], hashes[j])))

        return GAState(
            generation=state.generation + 1,
            population=tuple(offspring),
            best_genome=best_genome,
            best_fitness=best_fitness,
            rng_state=rng.bit_generator.state,
        )
