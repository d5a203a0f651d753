"""Shared by the funnel tests (also imported by their SIGKILLed subprocesses): the combined
config, and a GA whose generation 0 holds planted fingerprint duplicates."""

from __future__ import annotations

from evo.executor_inline import InlineExecutor
from evo.ga import GAState, GeneticAlgorithm, Individual
from optimizers.genome import Genome, Term

COMBINED = {
    "seed": 5,
    "tasks": ["qubic_1d_direct", "six_hump_camel_direct", "digits"],
    "evaluation": {
        "steps": 20, "seeds": [0, 1], "genomes_per_request": 4, "device": "cpu",
        "lr_multipliers": [0.5, 1, 2], "lr_aggregate": "mean", "fingerprint": True,
        "funnel": [{"tasks": ["qubic_1d_direct", "digits"], "seeds": [0], "steps": 5, "keep": 0.5}, {}],
    },
    "fitness": {"normalize": "reference", "reference": "adamw"},
    "fixed_lr_grid": [0.5, 1, 2],
    "population": {"size": 9, "elites": 2, "tournament_k": 3, "generations": 3},
    "fixed_entries": ["adam", "adamw", "sgd_momentum"],
    "executor": {"kind": "inline", "max_retries": 0},
}  # fmt: skip
"""Funnel + lr_multipliers [0.5, 1, 2] (mean) + normalize: reference (lr-tuned AdamW) + fingerprint."""

DUPLICATED = {6: 4, 7: 4, 8: 1}
"""Planted at generation 0: slot -> the slot it is a functional copy of (slot 1 is Adam, a fixed
entry). Slot 4 has two copies: its unit of three keys must count once, wherever it ranks."""


def negligible_copy(genome: Genome, nth: int = 0) -> Genome:
    """``genome`` plus its ``nth`` absent term at weight 1e-12: another canonical hash, the same update."""
    extra = [t for t in Term if t not in genome.term_types][nth]
    return genome.model_copy(
        update={"term_types": (*genome.term_types, extra), "alphas": (*genome.alphas, 1e-12)}
    )


class DuplicatingGA(GeneticAlgorithm):
    """The GA, with :data:`DUPLICATED` planted in generation 0 (origin ``init`` kept)."""

    def init(self, seed: int) -> GAState:
        state = super().init(seed)
        population = list(state.population)
        for nth, (slot, source) in enumerate(DUPLICATED.items()):
            copy = negligible_copy(population[source].genome, nth)
            population[slot] = Individual(genome=copy, origin="init")
        return state.model_copy(update={"population": tuple(population)})


class CountingExecutor(InlineExecutor):
    """The inline executor, remembering every (key, task, seed, steps) it was asked to train."""

    def __init__(self) -> None:
        super().__init__(max_retries=0)
        self.trained: list[tuple[str, str, int, int]] = []
        self.generation_of: list[int] = []

    def map_unordered(self, requests):
        requests = list(requests)
        for r in requests:
            members = [(e.key, r.task, s, r.steps) for e in r.entries for s in r.seeds]
            self.trained += members
            self.generation_of += [int(r.request_id.split(":")[0][1:].split("f")[0])] * len(members)
        return super().map_unordered(requests)
