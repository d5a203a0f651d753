"""Aggregate score reads, part of :class:`storage.Store`: a run's entries, seed results and
per-(entry, task) totals and per-entry estimates aggregated in the database (what
:mod:`evo.evidence.ranking` ranks).

A mixin of :class:`~storage.store.Store` (it uses the store's ``_transaction`` and
``_run_row``), kept apart so that the store's writing and run bookkeeping and these
aggregate queries each have one file; callers see one ``Store``.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Float, cast, func, select
from sqlalchemy.dialects.postgresql import aggregate_order_by

from storage.orm import EvaluationRow, IndividualRow, chunks, nan_if_null
from storage.records import FIXED_GENERATION, EntryEstimate, RunEntry, SeedResult, TaskTotal


class AggregateReads:
    """Read-only queries for :mod:`evo.evidence.ranking` and :mod:`evo.evidence.ranking_bands` (one
    transaction each, Core rows: no ORM objects, no metrics JSON)."""

    def run_entries(self, run_id: int) -> list[RunEntry]:
        """The run's distinct entries (every generation's and its fixed ones), first seen first.

        Ranking them is the caller's (``evo.evidence.ranking``, with the fitness of
        ``evo.search.aggregation``).
        """
        with self._transaction(f"read the entries of run {run_id}") as s:
            run = self._run_row(s, run_id)
            members = s.connection().execute(  # Core rows: a big run has many members
                select(IndividualRow.entry_key, IndividualRow.generation, IndividualRow.label,
                       IndividualRow.genome_hash)
                .where(IndividualRow.run_id == run.id)
                .order_by(IndividualRow.generation, IndividualRow.slot)
            ).all()
        labels = {m.entry_key: m.label for m in members if m.generation == FIXED_GENERATION}
        has_genome = {m.entry_key: m.genome_hash is not None for m in members}
        return [
            RunEntry(entry_key=k, label=labels.get(k), is_fixed=k in labels, has_genome=g)
            for k, g in has_genome.items()
        ]

    def seed_results(
        self, entry_keys: Sequence[str], budget_key: str, tasks: Sequence[str], seeds: Sequence[int]
    ) -> list[SeedResult]:
        """(entry_key, task, seed, fitness) of the stored results of ``entry_keys`` in that scope.

        The light read behind ranking: no metrics JSON is loaded. Order is unspecified.
        """
        keys = list(dict.fromkeys(entry_keys))
        with self._transaction("read seed fitness") as s:
            return [
                SeedResult(key, task, seed, nan_if_null(fitness))
                for chunk in chunks(keys)
                for key, task, seed, fitness in s.execute(
                    select(EvaluationRow.entry_key, EvaluationRow.task, EvaluationRow.seed,
                           EvaluationRow.fitness).where(
                        EvaluationRow.entry_key.in_(chunk),
                        EvaluationRow.budget_key == budget_key,
                        EvaluationRow.task.in_(list(tasks)),
                        EvaluationRow.seed.in_(list(seeds)),
                    )
                )
            ]

    def task_totals(
        self,
        entry_keys: Sequence[str],
        budget_key: str,
        tasks: Sequence[str],
        seeds: Sequence[int],
        run_id: int | None = None,
    ) -> list[TaskTotal]:
        """Per (entry_key, task): sum and counts of the stored seed fitness in that scope.

        One GROUP BY per chunk of keys (or, with ``run_id``, one for all the entries of that
        run, ``entry_keys`` unused), so ranking reads one small row per entry and task, not
        one per seed, and no metrics JSON. Order is unspecified; pairs without a stored seed
        are absent. Each sum adds its seeds in one order whatever the query's plan (floating
        point addition is not associative: a whole-run query and a by-key one must agree to
        the last bit, or exact ties would rank by rounding): PostgreSQL sums in seed order
        (``sum(fitness ORDER BY seed)``); SQLite (no ordered aggregates before 3.44) groups
        through the unique index ``uq_evaluations_key`` (entry, task, seed, budget), so in
        seed order in both.
        """
        e = EvaluationRow
        summand = e.fitness
        if self._engine.dialect.name == "postgresql":
            summand = aggregate_order_by(e.fitness, e.seed)
        scope = (e.budget_key == budget_key, e.task.in_(list(tasks)), e.seed.in_(list(seeds)))
        if run_id is None:
            keys = list(dict.fromkeys(entry_keys))
            filters = [e.entry_key.in_(chunk) for chunk in chunks(keys)]
        else:
            filters = [e.entry_key.in_(select(IndividualRow.entry_key).where(IndividualRow.run_id == run_id))]
        with self._transaction("read task fitness totals") as s:
            connection = s.connection()  # Core rows: the ORM's per-row work was most of the time
            return [
                TaskTotal(key, task, float(total or 0.0), n, n - n_values)
                for where in filters
                for key, task, total, n, n_values in connection.execute(
                    select(e.entry_key, e.task, func.sum(summand), func.count(), func.count(e.fitness))
                    .where(where, *scope)
                    .group_by(e.entry_key, e.task)
                ).all()
            ]

    def entry_estimates(
        self, budget_key: str, tasks: Sequence[str], seeds: Sequence[int], run_id: int
    ) -> list[EntryEstimate]:
        """Per entry of run ``run_id`` with a stored seed in scope: one :class:`EntryEstimate`.

        One GROUP BY per entry in the database (through the unique index
        ``uq_evaluations_key``), so a run of E entries on T tasks ships E small rows, not
        E x T: the first pass of ranking a large run (:mod:`evo.evidence.ranking_bands`). Order is
        unspecified.
        """
        e = EvaluationRow
        n = cast(func.count(), Float)
        query = (
            select(e.entry_key, func.count(), func.count() - func.count(e.fitness),
                   func.sum(e.fitness) / n, func.sum(func.abs(e.fitness)) / n)
            .where(e.entry_key.in_(select(IndividualRow.entry_key).where(IndividualRow.run_id == run_id)),
                   e.budget_key == budget_key, e.task.in_(list(tasks)), e.seed.in_(list(seeds)))
            .group_by(e.entry_key)
        )  # fmt: skip
        with self._transaction("read entry fitness estimates") as s:
            return [
                EntryEstimate(key, n_seeds, n_nan, nan_if_null(mean), nan_if_null(scale))
                for key, n_seeds, n_nan, mean, scale in s.connection().execute(query).all()
            ]
