"""One ranked entry of a run (a row of ``evo best``) and the name it is shown under.

Below :mod:`evo.evidence.ranking` (which builds them) and :mod:`evo.evidence.tuned` (which
folds a fixed entry's lr grid into one), so neither needs the other for the type.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from optimizers.genome import Genome


class RankedEntry(BaseModel):
    """One ranked entry: its :class:`evo.search.aggregation.EntryScore` plus what names it.

    ``is_fixed`` and ``label`` mark the run's fixed comparison entries, also when the GA
    produced the same genome (one entry per key: same update rule, same cached scores).
    An entry whose genome row was damaged keeps its rank (its scores are intact) and says
    so in ``damaged``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rank: int
    entry_key: str
    label: str | None
    is_fixed: bool
    genome: Genome | None
    fitness: float
    per_task: dict[str, float]
    n_evaluations: int
    complete: bool
    damaged: str | None = None
    """Why the entry's stored genome row cannot be read (``genome`` is then None), else None."""
    lr_tuned: dict[str, float] | None = None
    """Fixed entries scored over ``fixed_lr_grid``: the chosen lr multiplier per task (else None)."""


def entry_name(entry: RankedEntry) -> str:
    """A fixed entry's label, else the genome hash (with the label when it has one)."""
    if entry.is_fixed:
        return (entry.label or entry.entry_key) + (" (tuned)" if entry.lr_tuned else "")
    short = entry.entry_key[:10]
    return f"{short} ({entry.label})" if entry.label else short
