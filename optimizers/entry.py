"""A fixed comparison entry: a named optimizer class with documented hyperparameters."""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from optimizers.genome import Genome
from optimizers.genome_optimizer import GenomeOptimizer


@dataclass(frozen=True)
class FixedEntry:
    """A named optimizer scored alongside the evolved genomes.

    Attributes:
        name: registry key, also the evaluation-cache key of the entry.
        optimizer_class: the ``torch.optim.Optimizer`` subclass.
        kwargs: hyperparameters passed to the class (documented values).
        genome: the genome for genome entries, None for opaque ones.
        summary: one line for tables and docs.
        invalid_kwargs: (argument, bad value) pairs the class must reject with a
            ``ValueError`` naming the argument (drives the registry tests).
    """

    name: str
    optimizer_class: type[torch.optim.Optimizer]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    genome: Genome | None = None
    summary: str = ""
    invalid_kwargs: tuple[tuple[str, Any], ...] = ()

    @property
    def kind(self) -> Literal["genome", "opaque"]:
        return "genome" if self.genome is not None else "opaque"

    @property
    def stochastic(self) -> bool:
        """True when the class draws random numbers and takes a ``generator`` for them."""
        return "generator" in inspect.signature(self.optimizer_class).parameters

    def scaled(self, multiplier: float) -> FixedEntry:
        """This entry with its learning rate times ``multiplier`` (itself for 1).

        A genome entry scales the genome's lr (``lr_log10 + log10(multiplier)``, clamped to the
        genome's range); an opaque entry its ``lr`` keyword argument.

        Raises:
            ValueError: an opaque entry without an ``lr`` argument.
        """
        if multiplier == 1.0:
            return self
        if self.genome is not None:
            genome = scaled_genome(self.genome, multiplier)
            return dataclasses.replace(self, genome=genome, kwargs={**self.kwargs, "genome": genome})
        if "lr" not in self.kwargs:
            raise ValueError(f"optimizer entry {self.name!r} has no lr to scale")
        return dataclasses.replace(self, kwargs={**self.kwargs, "lr": self.kwargs["lr"] * multiplier})

    def build(
        self, params: Iterable[Any], total_steps: int, generator: torch.Generator | None = None
    ) -> torch.optim.Optimizer:
        """Instantiate the optimizer.

        ``total_steps`` feeds genome schedules; ``generator`` seeds stochastic optimizers
        (ALME's candidates, Azure Sky's noise) so that a score depends only on the seed.
        """
        if self.genome is not None:
            # the exact formulation (foreach=False): scores do not move with the fast path
            return GenomeOptimizer(params, self.genome, total_steps=total_steps, foreach=False)
        if generator is not None and self.stochastic:
            return self.optimizer_class(params, **self.kwargs, generator=generator)
        return self.optimizer_class(params, **self.kwargs)


def scaled_genome(genome: Genome, multiplier: float) -> Genome:
    """``genome`` with its lr times ``multiplier`` (lr_log10 clamped to [-12, 2]); itself for 1."""
    if multiplier == 1.0:
        return genome
    lr_log10 = min(2.0, max(-12.0, genome.lr_log10 + math.log10(multiplier)))
    return genome.model_copy(update={"lr_log10": lr_log10})


def genome_entry(name: str, genome: Genome, summary: str) -> FixedEntry:
    return FixedEntry(
        name=name,
        optimizer_class=GenomeOptimizer,
        kwargs={"genome": genome},
        genome=genome,
        summary=summary,
        invalid_kwargs=(("total_steps", 0),),
    )
