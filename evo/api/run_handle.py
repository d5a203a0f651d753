"""``evo.Run``: one stored run, read from its database when asked (nothing is held open)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evo.api.stores import database_url, open_store
from evo.errors import UsageError
from evo.evidence.export_choice import run_steps

if TYPE_CHECKING:
    import pandas as pd

    from evo.evidence.ranked_entry import RankedEntry
    from evo.evidence.search_order import RankBy
    from storage import Store
    from storage.records import RunRecord


class Run:
    """A run in a result database, by name (or id).

    Every method opens the database read-only for its call and closes it again, so a
    ``Run`` can be kept while a driver elsewhere writes the run: each call sees the run as
    stored at that moment.

    Args:
        db: SQLAlchemy URL or SQLite file path.
        name: the run's name or id.
    """

    def __init__(self, db: str | Path, name: str | int) -> None:
        self.db = database_url(db)
        self.name = name

    def __repr__(self) -> str:
        return f"evo.Run({self.name!r}, db={self.db!r})"

    @contextmanager
    def _stored(self) -> Iterator[tuple[Store, RunRecord]]:
        with open_store(self.db, read_only=True) as store:
            yield store, store.get_run(self.name)

    @property
    def record(self) -> RunRecord:
        """The run's row now: name, status, config, scope (tasks, seeds, budget), times."""
        with self._stored() as (_, record):
            return record

    @property
    def status(self) -> str:
        """``created``, ``running``, ``paused``, ``failed`` or ``finished``."""
        return self.record.status

    @property
    def config(self) -> dict[str, Any]:
        """The job config the run was created with (as stored: plain JSON data)."""
        return self.record.config

    def best(self, k: int = 10, *, task: str | None = None, fixed: bool = True) -> list[RankedEntry]:
        """The ``k`` best evolved entries and (``fixed=True``) every fixed entry, in rank
        order: the rows of ``evo best`` (rank 1 is the highest mean fitness over the run's
        tasks and seeds; ``task`` ranks on that task alone).

        Each :class:`~evo.evidence.ranked_entry.RankedEntry` has ``rank``, ``entry_key``,
        ``label``, ``is_fixed``, ``genome`` (None for opaque fixed entries), ``fitness`` and
        ``per_task``.
        """
        from evo.evidence.ranking import best

        if k < 1:
            raise UsageError(f"k must be at least 1, got {k}")
        with self._stored() as (store, record):
            entries = best(store, record.id, top_k=k, task=task, fixed_too=True)
        return entries if fixed else [e for e in entries if not e.is_fixed]

    def export(
        self,
        path: str | Path,
        rank: int = 1,
        class_name: str | None = None,
        *,
        by: RankBy = "search",
        total_steps: int | None = None,
        calibrate_on: str | Mapping[str, Any] | None = None,
        calibrate_steps: int = 200,
        calibrate_seeds: int = 2,
    ) -> Path:
        """Write the ``rank``-th best evolved genome as a standalone ``torch.optim.Optimizer``
        subclass in one ``.py`` file that needs only torch; returns the path written.

        Args:
            path: the ``.py`` file (parent folders are created).
            rank: 1 = the best, ranked as the GA ranked it (``by="search"``: lr variants
                aggregated, normalised) or by ``evo best``'s mean (``by="mean"``); for a
                run with the default fitness both are the same order.
            class_name: the class's name (default: after what it exports, e.g.
                ``EvolvedAdamOptimizer``).
            total_steps: the cosine-decay horizon (default: the run's steps).
            calibrate_on: a task to pick the file's default lr on, as ``evo calibrate``
                does (a built-in task's name, ``"module:factory"`` or the config's
                ``{"import": ..., "name": ..., "kwargs": ...}``): the rule is trained at
                seven rates around its own for ``calibrate_steps`` steps on
                ``calibrate_seeds`` seeds, chosen on the validation split, and the header
                records the sweep.
        """
        from evo.api.export import export_genome
        from evo.evidence.export_choice import ranked_genome

        if rank < 1:
            raise UsageError(f"rank must be at least 1, got {rank}")
        task = None
        if calibrate_on is not None:
            from evo.calibrate.task_argument import task_argument

            task = task_argument(calibrate_on)
        with self._stored() as (store, record):
            genome = ranked_genome(store, record, rank, by)
            try:
                if task is None:
                    return export_genome(store, record, genome, path, class_name, total_steps)
                from evo.calibrate.output import calibrate_and_write
                from evo.evidence.known_rule import class_name_for

                written, _, _ = calibrate_and_write(
                    genome, task, calibrate_steps, list(range(calibrate_seeds)), Path(path),
                    class_name or class_name_for(genome), total_steps or run_steps(record),
                    f"run {record.name} rank {rank} (genome {genome.hash})",
                )  # fmt: skip
                return written
            except ValueError as exc:
                raise UsageError(f"class_name: {exc}") from None

    def evaluations(self) -> pd.DataFrame:
        """One row per stored evaluation of the run: entry, generation first seen, origin,
        split (``selection``, ``holdout``, ``rung<i>``), task, seed, fitness, status, worker,
        wall time, and each metric as a ``metrics.<name>`` column
        (:mod:`evo.api.frames` says which rows belong to a run)."""
        import pandas as pd

        from evo.api.frames import EVALUATION_COLUMNS, evaluation_records

        with self._stored() as (store, record):
            rows = evaluation_records(store, record)
        return _frame(pd, rows, EVALUATION_COLUMNS)

    def generations(self) -> pd.DataFrame:
        """One row per closed generation: best, mean and standard deviation of the
        population's fitness, when it closed, and ``timing.<part>`` seconds."""
        import pandas as pd

        from evo.api.frames import GENERATION_COLUMNS, generation_records

        with self._stored() as (store, record):
            rows = generation_records(store, record)
        return _frame(pd, rows, GENERATION_COLUMNS)

    def report(self, out_dir: str | Path, *, landscape_steps: int | None = None) -> Path:
        """Write ``evo report``'s plots, ``report.md`` and ``index.html`` into ``out_dir``;
        returns the path of ``report.md``."""
        from evo.report.markdown import write_report

        with self._stored() as (store, record):
            return write_report(store, record.id, out_dir, landscape_steps=landscape_steps)


def _frame(pd: Any, rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """A DataFrame of ``rows`` with ``columns`` first (also when there are no rows)."""
    extra = list(dict.fromkeys(k for row in rows for k in row if k not in columns))
    return pd.DataFrame(rows, columns=[*columns, *extra])
