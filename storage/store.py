"""The Store API: everything a run needs to resume and everything a user queries.

Every public method is one transaction through :meth:`Store._transaction` (commit on
success, rollback on any error, driver errors turned into one-line :class:`StorageError`
messages) and returns frozen records from :mod:`storage.records`, never live ORM rows.

Example::

    >>> store = Store("sqlite://")  # in memory; the default is sqlite:///runs/evo.db
    >>> scope = RunScope(tasks=["digits"], seeds=[0], budget_key="steps=10")
    >>> run = store.create_run("demo", {"note": "example"}, seed=42, scope=scope)
    >>> store.get_run("demo").status
    'running'
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from optimizers.genome import Genome
from storage import checks, convert, queries
from storage.engine import WRITE_OPTION, describe, open_database, translate
from storage.errors import RunExistsError, StorageError, TaskNotInRunError, UnknownRunError
from storage.queries import chunks
from storage.records import (
    RUN_STATUSES,
    EvaluationIn,
    EvaluationRecord,
    GenerationRecord,
    IndividualIn,
    IndividualRecord,
    RankedEntry,
    RunRecord,
    RunScope,
    RunStatus,
)
from storage.schema import (
    SCHEMA_VERSION,
    EvaluationRow,
    GenerationRow,
    GenomeRow,
    IndividualRow,
    Run,
    utcnow,
)
from storage.upsert import insert_ignore

DEFAULT_URL = "sqlite:///runs/evo.db"


class Store:
    """A run database at ``url`` (any SQLAlchemy URL; the folder of a SQLite file is created).

    Raises (on open):
        DatabaseOpenError: bad URL, missing driver, unreachable server, not a database,
            read-only location.
        SchemaVersionError: a database of a newer or unknown schema version.
    """

    def __init__(self, url: str = DEFAULT_URL) -> None:
        self._engine, self.url = open_database(url)
        self._read = sessionmaker(self._engine, expire_on_commit=False, autoflush=False)
        self._write = sessionmaker(
            self._engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False, autoflush=False
        )
        self._native_upsert = True  # tests switch it off to run the generic insert path

    def __repr__(self) -> str:
        return f"Store({describe(self.url)!r})"

    def close(self) -> None:
        """Release the connections (the store cannot be used afterwards)."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(
        self, action: str, *, write: bool = False, conflict: StorageError | None = None
    ) -> Iterator[Session]:
        """The one scope of every public method: begin, yield, commit; roll back on error."""
        try:
            with (self._write if write else self._read)() as session, session.begin():
                yield session
        except IntegrityError as exc:
            raise (conflict or translate(exc, self.url, action)) from exc
        except SQLAlchemyError as exc:
            raise translate(exc, self.url, action) from exc

    # -- runs ----------------------------------------------------------------------------
    def create_run(self, name: str, config: dict[str, Any], seed: int, scope: RunScope) -> RunRecord:
        """Register a run (status ``running``). Raises RunExistsError if ``name`` is taken."""
        name = checks.run_name(name)
        config = checks.as_json(config, "a run's config")
        exists = RunExistsError(f"a run named {name!r} already exists; choose another name or resume it")
        with self._transaction(f"create run {name!r}", write=True, conflict=exists) as s:
            if s.scalar(select(Run.id).where(Run.name == name)) is not None:
                raise exists
            now = utcnow()
            row = Run(
                name=name,
                config=config,
                scope=scope.model_dump(mode="json"),
                status="running",
                seed=int(seed),
                created_at=now,
                updated_at=now,
                schema_version=SCHEMA_VERSION,
            )
            s.add(row)
            s.flush()
            return convert.run(row)

    def get_run(self, name_or_id: str | int) -> RunRecord:
        """The run with that name, or id (an int, or a string of digits that is no name)."""
        with self._transaction("read a run") as s:
            return convert.run(self._run_row(s, name_or_id))

    def list_runs(self) -> list[RunRecord]:
        """All runs, oldest first."""
        with self._transaction("list runs") as s:
            return [convert.run(row) for row in s.scalars(select(Run).order_by(Run.id))]

    def set_status(self, run_id: int, status: RunStatus) -> RunRecord:
        """Set a run's status (running / paused / finished / failed)."""
        if status not in RUN_STATUSES:
            raise StorageError(f"unknown run status {status!r}; use one of {', '.join(RUN_STATUSES)}")
        with self._transaction(f"set the status of run {run_id}", write=True) as s:
            row = self._run_row(s, run_id)
            row.status, row.updated_at = status, utcnow()
            s.flush()
            return convert.run(row)

    # -- populations ---------------------------------------------------------------------
    def save_generation(self, run_id: int, generation: int, individuals: Sequence[IndividualIn]) -> None:
        """Store a population (and its genomes, first JSON per hash kept) in one transaction.

        Saving the identical population again is a no-op (resume); a different one for an
        existing generation raises StorageError. Generation -1 holds the fixed entries
        (origin ``fixed``); generations >= 0 hold GA individuals.
        """
        individuals = sorted(individuals, key=lambda ind: ind.slot)
        checks.population(generation, individuals)
        with self._transaction(f"save generation {generation} of run {run_id}", write=True) as s:
            run = self._run_row(s, run_id)
            stored = self._population_rows(s, run.id, generation)
            if stored or not individuals:
                checks.same_population(run.name, generation, stored, individuals)
                return
            now = utcnow()
            genomes = {ind.entry_key: ind.genome for ind in individuals if ind.genome is not None}
            genome_rows = [
                {"hash": h, "genome": g.to_seed_dict(), "first_seen": now} for h, g in genomes.items()
            ]
            insert_ignore(s, GenomeRow, genome_rows, native=self._native_upsert)
            rows = [convert.individual_row(run.id, generation, ind) for ind in individuals]
            if insert_ignore(s, IndividualRow, rows, native=self._native_upsert) < len(rows):
                # Another process saved this generation concurrently: it must be the same one.
                checks.same_population(
                    run.name, generation, self._population_rows(s, run.id, generation), individuals
                )
            run.updated_at = now

    def individuals(self, run_id: int, generation: int) -> list[IndividualRecord]:
        """A saved population, by slot (empty if that generation was never saved)."""
        with self._transaction(f"read generation {generation} of run {run_id}") as s:
            run = self._run_row(s, run_id)
            rows = s.execute(
                select(IndividualRow, GenomeRow.genome)
                .outerjoin(GenomeRow, GenomeRow.hash == IndividualRow.genome_hash)
                .where(IndividualRow.run_id == run.id, IndividualRow.generation == generation)
                .order_by(IndividualRow.slot)
            ).all()
            genomes = convert.GenomeCache()
            return [convert.individual(row, genomes.get(row.genome_hash, data)) for row, data in rows]

    # -- evaluations ---------------------------------------------------------------------
    def missing_evaluations(self, run_id: int, generation: int) -> list[tuple[str, str, int]]:
        """(entry_key, task, seed) a saved generation still needs under the run's budget key.

        Over the generation's distinct entry keys (slot order of first occurrence) x the
        scope's tasks (scope order) x seeds (scope order); an evaluation of any status counts.
        """
        with self._transaction(f"find missing evaluations of run {run_id}") as s:
            run = self._run_row(s, run_id)
            scope = RunScope.model_validate(run.scope)
            keys = list(
                dict.fromkeys(
                    s.scalars(
                        select(IndividualRow.entry_key)
                        .where(IndividualRow.run_id == run.id, IndividualRow.generation == generation)
                        .order_by(IndividualRow.slot)
                    )
                )
            )
            done: set[tuple[str, str, int]] = set()
            for chunk in chunks(keys):
                done.update(
                    s.execute(
                        select(EvaluationRow.entry_key, EvaluationRow.task, EvaluationRow.seed).where(
                            EvaluationRow.entry_key.in_(chunk),
                            EvaluationRow.budget_key == scope.budget_key,
                            EvaluationRow.task.in_(scope.tasks),
                        )
                    ).all()
                )
        return [
            (k, t, seed)
            for k in keys
            for t in scope.tasks
            for seed in scope.seeds
            if (k, t, seed) not in done
        ]

    def record_evaluation(self, evaluation: EvaluationIn) -> bool:
        """Store one result; True if inserted, False if its key was already stored (first wins).

        Safe when several processes record the same key at once: exactly one inserts.
        """
        return self.record_evaluations([evaluation]) == 1

    def record_evaluations(self, evaluations: Sequence[EvaluationIn]) -> int:
        """Store several results in one transaction (all or none); returns how many were new."""
        if not evaluations:
            return 0
        now = utcnow()
        rows = [convert.evaluation_row(e, now) for e in evaluations]
        with self._transaction(f"record {len(rows)} evaluation(s)", write=True) as s:
            return insert_ignore(s, EvaluationRow, rows, native=self._native_upsert)

    def evaluations(
        self, entry_keys: Sequence[str], budget_key: str, tasks: Sequence[str] | None = None
    ) -> list[EvaluationRecord]:
        """Stored results of ``entry_keys`` under ``budget_key`` (optionally only ``tasks``).

        Ordered by the position of the entry key in ``entry_keys``, then task, then seed.
        """
        keys = list(dict.fromkeys(entry_keys))
        position = {k: i for i, k in enumerate(keys)}
        rows: list[EvaluationRow] = []
        with self._transaction("read evaluations") as s:
            for chunk in chunks(keys):
                query = select(EvaluationRow).where(
                    EvaluationRow.entry_key.in_(chunk), EvaluationRow.budget_key == budget_key
                )
                if tasks is not None:
                    query = query.where(EvaluationRow.task.in_(list(tasks)))
                rows.extend(s.scalars(query))
            rows.sort(key=lambda r: (position[r.entry_key], r.task, r.seed))
            return [convert.evaluation(r) for r in rows]

    # -- generations ---------------------------------------------------------------------
    def close_generation(
        self, run_id: int, generation: int, best: float, mean: float, std: float, rng_state: dict[str, Any]
    ) -> GenerationRecord:
        """Mark a saved generation done with its fitness stats and the state to resume from.

        Closing it again with identical values returns the stored record; different values
        raise StorageError.
        """
        if generation < 0:
            raise StorageError(f"cannot close generation {generation}: GA generations start at 0")
        state = checks.as_json(rng_state, "rng_state")
        values = {"best_fitness": best, "mean_fitness": mean, "std_fitness": std}
        with self._transaction(f"close generation {generation} of run {run_id}", write=True) as s:
            run = self._run_row(s, run_id)
            row = s.scalar(
                select(GenerationRow).where(
                    GenerationRow.run_id == run.id, GenerationRow.generation == generation
                )
            )
            if row is not None:
                checks.same_close(run.name, row, values, state)
                return convert.generation(row)
            saved = s.scalar(
                select(func.count())
                .select_from(IndividualRow)
                .where(IndividualRow.run_id == run.id, IndividualRow.generation == generation)
            )
            if not saved:
                raise StorageError(
                    f"run {run.name!r} has no saved generation {generation}; save_generation comes first"
                )
            row = GenerationRow(
                run_id=run.id,
                generation=generation,
                rng_state=state,
                completed_at=utcnow(),
                **{k: checks.nullable(v) for k, v in values.items()},
            )
            s.add(row)
            run.updated_at = row.completed_at
            s.flush()
            return convert.generation(row)

    def last_complete_generation(self, run_id: int) -> GenerationRecord | None:
        """The highest closed generation, or None before the first one closes."""
        with self._transaction(f"read generations of run {run_id}") as s:
            run = self._run_row(s, run_id)
            row = s.scalar(
                select(GenerationRow)
                .where(GenerationRow.run_id == run.id)
                .order_by(GenerationRow.generation.desc())
                .limit(1)
            )
            return None if row is None else convert.generation(row)

    def generations(self, run_id: int) -> list[GenerationRecord]:
        """All closed generations of a run, in order."""
        with self._transaction(f"read generations of run {run_id}") as s:
            run = self._run_row(s, run_id)
            rows = s.scalars(
                select(GenerationRow).where(GenerationRow.run_id == run.id).order_by(GenerationRow.generation)
            )
            return [convert.generation(row) for row in rows]

    # -- queries -------------------------------------------------------------------------
    def best(self, run_id: int, top_k: int | None = 10, task: str | None = None) -> list[RankedEntry]:
        """The run's entries (every generation's plus its fixed ones), best first.

        See :mod:`storage.ranking` for the fitness and the order. ``task`` ranks on that task
        alone (TaskNotInRunError if it is not in the run's scope); ``top_k=None`` returns all.
        ``is_fixed``/``label`` mark the run's fixed entries, also when the GA made the same genome.
        """
        if top_k is not None and top_k < 1:
            raise StorageError(f"top_k must be at least 1, got {top_k}")
        with self._transaction(f"rank the entries of run {run_id}") as s:
            run = self._run_row(s, run_id)
            scope = RunScope.model_validate(run.scope)
            if task is not None and task not in scope.tasks:
                raise TaskNotInRunError(
                    f"task {task!r} is not in run {run.name!r}; its tasks: {', '.join(scope.tasks)}"
                )
            return queries.ranked_entries(
                s, run.id, scope, [task] if task is not None else scope.tasks, top_k
            )

    def genome(self, hash_or_prefix: str) -> Genome:
        """A stored genome by its hash, or by a unique prefix of at least 6 characters.

        Raises UnknownGenomeError when none matches or the prefix is ambiguous (listing the
        candidates).
        """
        with self._transaction("look up a genome") as s:
            return queries.find_genome(s, hash_or_prefix)

    # -- helpers -------------------------------------------------------------------------
    @staticmethod
    def _population_rows(s: Session, run_id: int, generation: int) -> Sequence[IndividualRow]:
        return s.scalars(
            select(IndividualRow)
            .where(IndividualRow.run_id == run_id, IndividualRow.generation == generation)
            .order_by(IndividualRow.slot)
        ).all()

    def _run_row(self, s: Session, name_or_id: str | int) -> Run:
        row = None
        if isinstance(name_or_id, int) and not isinstance(name_or_id, bool):
            row = s.get(Run, name_or_id)
        else:
            text = str(name_or_id).strip()
            row = s.scalar(select(Run).where(Run.name == text))
            if row is None and text.isdigit():
                row = s.get(Run, int(text))
        if row is None:
            raise UnknownRunError(
                f"no run {name_or_id!r} in {describe(self.url)}; `evo runs` lists the stored runs"
            )
        return row
