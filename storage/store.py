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
from storage.aggregate_reads import AggregateReads
from storage.engine import WRITE_OPTION, describe, open_database, translate
from storage.errors import DamagedRowError, RunExistsError, StorageError
from storage.orm import (
    SCHEMA_VERSION,
    EvaluationRow,
    GenerationRow,
    GenomeRow,
    IndividualRow,
    Run,
    chunks,
    null_if_nan,
    parse_genome,
    utcnow,
)
from storage.progress_reads import ProgressReads
from storage.records import (
    RUN_STATUSES,
    EvaluationIn,
    EvaluationRecord,
    GenerationRecord,
    IndividualIn,
    IndividualRecord,
    RunRecord,
    RunScope,
    RunStatus,
)
from storage.run_leases import RunLeases
from storage.write_checks import as_json, check_population, same_close, same_population, valid_run_name

DEFAULT_URL = "sqlite:///runs/evo.db"


class Store(AggregateReads, ProgressReads, RunLeases):
    """A run database at ``url`` (any SQLAlchemy URL; the folder of a SQLite file is created).

    ``read_only=True`` opens it for reading only: nothing is created, upgraded or written
    (SQLite ``mode=ro``; PostgreSQL read-only transactions); write methods raise.

    Raises (on open):
        DatabaseOpenError: bad URL, missing driver, unreachable server, not a database,
            read-only location.
        SchemaVersionError: a database of a newer or unknown schema version.
    """

    def __init__(self, url: str = DEFAULT_URL, read_only: bool = False) -> None:
        self._engine, self.url = open_database(url, read_only)
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
        name = valid_run_name(name)
        config = as_json(config, "a run's config")
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
            return row.record()

    def get_run(self, name_or_id: str | int) -> RunRecord:
        """The run with that name, or id (an int, or a string of digits that is no name)."""
        with self._transaction("read a run") as s:
            return self._run_row(s, name_or_id).record()

    def list_runs(self) -> list[RunRecord]:
        """All runs, oldest first."""
        with self._transaction("list runs") as s:
            return [row.record() for row in s.scalars(select(Run).order_by(Run.id))]

    def set_status(self, run_id: int, status: RunStatus) -> RunRecord:
        """Set a run's status (running / paused / finished / failed)."""
        if status not in RUN_STATUSES:
            raise StorageError(f"unknown run status {status!r}; use one of {', '.join(RUN_STATUSES)}")
        with self._transaction(f"set the status of run {run_id}", write=True) as s:
            row = self._run_row(s, run_id)
            row.status, row.updated_at = status, utcnow()
            s.flush()
            return row.record()

    # -- populations ---------------------------------------------------------------------
    def save_generation(self, run_id: int, generation: int, individuals: Sequence[IndividualIn]) -> None:
        """Store a population (and its genomes, first JSON per hash kept) in one transaction.

        Saving the identical population again is a no-op (resume); a different one for an
        existing generation raises StorageError. Generation -1 holds the fixed entries
        (origin ``fixed``); generations >= 0 hold GA individuals.
        """
        individuals = sorted(individuals, key=lambda ind: ind.slot)
        check_population(generation, individuals)
        with self._transaction(f"save generation {generation} of run {run_id}", write=True) as s:
            run = self._run_row(s, run_id)
            stored = IndividualRow.population(s, run.id, generation)
            if stored or not individuals:
                same_population(run.name, generation, stored, individuals)
                return
            now = utcnow()
            genomes = {ind.entry_key: ind.genome for ind in individuals if ind.genome is not None}
            genome_rows = [
                {"hash": h, "genome": g.to_seed_dict(), "first_seen": now} for h, g in genomes.items()
            ]
            GenomeRow.insert_ignore(s, genome_rows, native=self._native_upsert)
            rows = [IndividualRow.values(run.id, generation, ind) for ind in individuals]
            if IndividualRow.insert_ignore(s, rows, native=self._native_upsert) < len(rows):
                # Another process saved this generation concurrently: it must be the same one.
                same_population(
                    run.name, generation, IndividualRow.population(s, run.id, generation), individuals
                )
            run.updated_at = now

    def individuals(self, run_id: int, generation: int) -> list[IndividualRecord]:
        """A saved population, by slot (empty if that generation was never saved)."""
        with self._transaction(f"read generation {generation} of run {run_id}") as s:
            run = self._run_row(s, run_id)
            rows = s.execute(
                select(IndividualRow, GenomeRow.raw())
                .outerjoin(GenomeRow, GenomeRow.hash == IndividualRow.genome_hash)
                .where(IndividualRow.run_id == run.id, IndividualRow.generation == generation)
                .order_by(IndividualRow.slot)
            ).all()
            genomes = _GenomeCache()
            return [row.record(genomes.get(row.genome_hash, data)) for row, data in rows]

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
        rows = [EvaluationRow.values(e, now) for e in evaluations]
        with self._transaction(f"record {len(rows)} evaluation(s)", write=True) as s:
            return EvaluationRow.insert_ignore(s, rows, native=self._native_upsert)

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
            return [r.record() for r in rows]

    # -- generations ---------------------------------------------------------------------
    def close_generation(
        self,
        run_id: int,
        generation: int,
        best: float,
        mean: float,
        std: float,
        ga_state: dict[str, Any],
        timing: dict[str, float] | None = None,
    ) -> GenerationRecord:
        """Mark a saved generation done with its fitness stats and the GA state to resume from.

        ``timing`` (seconds by part of the generation's wall time) is stored as given; it is
        not compared when a generation is closed again.

        Closing it again with identical values returns the stored record; different values
        raise StorageError.
        """
        if generation < 0:
            raise StorageError(f"cannot close generation {generation}: GA generations start at 0")
        state = as_json(ga_state, "ga_state")
        values = {"best_fitness": best, "mean_fitness": mean, "std_fitness": std}
        with self._transaction(f"close generation {generation} of run {run_id}", write=True) as s:
            run = self._run_row(s, run_id)
            row = s.scalar(
                select(GenerationRow).where(
                    GenerationRow.run_id == run.id, GenerationRow.generation == generation
                )
            )
            if row is not None:
                same_close(run.name, row, values, state)
                return row.record()
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
                ga_state=state,
                timing=as_json(timing, "timing") if timing is not None else None,
                completed_at=utcnow(),
                **{k: null_if_nan(v) for k, v in values.items()},
            )
            s.add(row)
            run.updated_at = row.completed_at
            s.flush()
            return row.record()

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
            return None if row is None else row.record()

    def generations(self, run_id: int) -> list[GenerationRecord]:
        """All closed generations of a run, in order."""
        with self._transaction(f"read generations of run {run_id}") as s:
            run = self._run_row(s, run_id)
            rows = s.scalars(
                select(GenerationRow).where(GenerationRow.run_id == run.id).order_by(GenerationRow.generation)
            )
            return [row.record() for row in rows]

    # -- queries -------------------------------------------------------------------------
    def genomes(self, hashes: Sequence[str]) -> dict[str, Genome]:
        """The stored genomes among ``hashes`` (unknown hashes are left out).

        Raises DamagedRowError (one line naming the row) if one of them cannot be read.
        """
        found = self.genomes_or_damage(hashes)
        for value in found.values():
            if isinstance(value, DamagedRowError):
                raise value
        return found  # type: ignore[return-value]

    def genomes_or_damage(self, hashes: Sequence[str]) -> dict[str, Genome | DamagedRowError]:
        """As :meth:`genomes`, but a damaged row maps to its error (rankings skip and flag it)."""
        with self._transaction("read genomes") as s:
            return GenomeRow.by_hash(s, hashes)

    def genome(self, hash_or_prefix: str) -> Genome:
        """A stored genome by its hash, or by a unique prefix of at least 6 characters.

        Raises UnknownGenomeError when none matches or the prefix is ambiguous (listing the
        candidates).
        """
        with self._transaction("look up a genome") as s:
            return GenomeRow.find_or_raise(s, hash_or_prefix)

    # -- helpers -------------------------------------------------------------------------
    def _run_row(self, s: Session, name_or_id: str | int) -> Run:
        return Run.find_or_raise(s, name_or_id, describe(self.url))


class _GenomeCache:
    """Parses each genome JSON once per call (populations repeat elites)."""

    def __init__(self) -> None:
        self._by_hash: dict[str, Genome] = {}

    def get(self, genome_hash: str | None, data: Any) -> Genome | None:
        if genome_hash is None or data is None:
            return None
        if genome_hash not in self._by_hash:
            self._by_hash[genome_hash] = parse_genome(genome_hash, data)
        return self._by_hash[genome_hash]
