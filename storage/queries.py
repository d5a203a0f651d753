"""Read queries behind ``Store.best`` and ``Store.genome``, run inside the caller's transaction."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from optimizers.genome import Genome
from storage.errors import UnknownGenomeError
from storage.ranking import EntryScore, rank
from storage.records import FIXED_GENERATION, RankedEntry, RunScope
from storage.schema import EvaluationRow, GenomeRow, IndividualRow

MIN_PREFIX = 6
"""Shortest genome-hash prefix :func:`find_genome` resolves."""
CHUNK = 500
"""Keys per ``IN (...)`` clause (stays far below every driver's parameter limit)."""


def chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def ranked_entries(
    s: Session, run_id: int, scope: RunScope, tasks: Sequence[str], top_k: int | None
) -> list[RankedEntry]:
    """Every entry of the run (generations >= 0 and the fixed ones at -1), ranked on ``tasks``.

    Scores come from the evaluation cache under the run's budget key and seeds; see
    :mod:`storage.ranking` for the fitness and the order.
    """
    members = s.execute(
        select(
            IndividualRow.entry_key, IndividualRow.generation, IndividualRow.label, IndividualRow.genome_hash
        )
        .where(IndividualRow.run_id == run_id)
        .order_by(IndividualRow.generation, IndividualRow.slot)
    ).all()
    fixed_labels = {m.entry_key: m.label for m in members if m.generation == FIXED_GENERATION}
    genome_hash = {m.entry_key: m.genome_hash for m in members}
    scores = {key: EntryScore(key) for key in genome_hash}
    for chunk in chunks(list(scores)):
        for key, task, fitness in s.execute(
            select(EvaluationRow.entry_key, EvaluationRow.task, EvaluationRow.fitness).where(
                EvaluationRow.entry_key.in_(chunk),
                EvaluationRow.budget_key == scope.budget_key,
                EvaluationRow.task.in_(tasks),
                EvaluationRow.seed.in_(scope.seeds),
            )
        ):
            scores[key].add(task, math.nan if fitness is None else fitness)
    ranked = rank(scores.values(), tasks, len(scope.seeds))[:top_k]
    hashes = [h for h in (genome_hash[r.entry_key] for r in ranked) if h is not None]
    genomes = {
        row.hash: Genome.model_validate(row.genome)
        for chunk in chunks(hashes)
        for row in s.scalars(select(GenomeRow).where(GenomeRow.hash.in_(chunk)))
    }
    return [
        RankedEntry(
            rank=i,
            entry_key=score.entry_key,
            label=fixed_labels.get(score.entry_key),
            is_fixed=score.entry_key in fixed_labels,
            genome=genomes.get(genome_hash[score.entry_key] or ""),
            fitness=score.fitness(tasks),
            per_task=score.per_task(tasks),
            n_evaluations=score.n_evaluations,
            complete=score.complete(tasks, len(scope.seeds)),
        )
        for i, score in enumerate(ranked, start=1)
    ]


def find_genome(s: Session, hash_or_prefix: str) -> Genome:
    """A stored genome by its hash, or by a unique prefix of at least :data:`MIN_PREFIX` characters."""
    wanted = str(hash_or_prefix).strip().lower()
    row = s.get(GenomeRow, wanted)
    if row is not None:
        return Genome.model_validate(row.genome)
    if len(wanted) < MIN_PREFIX:
        raise UnknownGenomeError(
            f"no genome {wanted!r}; give a full hash or a prefix of at least {MIN_PREFIX} characters "
            "(`evo best RUN` shows them)"
        )
    rows = s.scalars(
        select(GenomeRow).where(GenomeRow.hash.startswith(wanted, autoescape=True)).limit(11)
    ).all()
    if not rows:
        raise UnknownGenomeError(f"no genome with hash or prefix {wanted!r}; `evo best RUN` lists genomes")
    if len(rows) > 1:
        shown = ", ".join(r.hash for r in rows[:10]) + (", ..." if len(rows) > 10 else "")
        raise UnknownGenomeError(f"genome prefix {wanted!r} is ambiguous ({shown}); give more characters")
    return Genome.model_validate(rows[0].genome)
