"""``evo.run``: start a run, or resume the stored run of that name, and drive it to its end.

The steps are the ones ``evo run`` takes (it calls :func:`existing_run` and :func:`drive`):
validate the config, run the preflight checks (data on disk, device), look the run up (a
stored run of that name must compute the same; a live driver elsewhere is refused), start
the executor the config names (inline, or Ray), and only then create or open the database
and run the driver. Every user error is raised before the first write.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evo.api.config import load_config
from evo.api.observers import observer_group
from evo.api.stores import database_exists, database_url, open_store

if TYPE_CHECKING:
    from evo.api.run_handle import Run
    from evo.config.schema import JobConfig
    from evo.execution.executor import Executor
    from evo.runner.events import RunObserver
    from storage import Store
    from storage.records import RunRecord


def default_run_name(config: object, cfg: JobConfig) -> str:
    """The config's ``name``; else a YAML file's stem; else ``run-`` and the first 8 hex of
    the hash of the config's results-relevant sections (the same config resumes its run,
    another one starts a new run)."""
    if cfg.name:
        return cfg.name
    if isinstance(config, str | Path):
        return Path(config).stem
    from evo.runner.run_records import semantic_config

    semantic = json.dumps(semantic_config(cfg.model_dump(mode="json")), sort_keys=True)
    return "run-" + hashlib.sha256(semantic.encode()).hexdigest()[:8]


def existing_run(url: str, name: str, cfg: JobConfig) -> RunRecord | None:
    """The stored run ``name`` that ``cfg`` continues, or None if there is none (yet).

    Raises:
        RunConflictError: the stored run was made with a different results-relevant config.
        RunLeasedError: it is not finished and a live driver holds it.
    """
    from evo.runner.driver import find_run
    from evo.runner.lease import refuse_if_live

    if not database_exists(url):
        return None
    with open_store(url) as store:
        existing = find_run(store, name, cfg)
    if existing is not None and existing.status != "finished":
        refuse_if_live(existing)
    return existing


def drive(
    store: Store,
    record: RunRecord | None,
    cfg: JobConfig,
    name: str,
    executor: Executor,
    observer: RunObserver | None = None,
) -> RunRecord:
    """Run ``record`` (a new run called ``name`` when None) to its end; returns it as stored.

    The config's ``tracking:`` backends (:func:`evo.tracking.observers_for`) are told of the
    run beside ``observer`` and closed on the way out. Ctrl-C (KeyboardInterrupt) leaves the
    run ``paused`` and propagates.
    """
    from evo.runner.driver import Driver, create_run
    from evo.runner.events import ObserverGroup
    from evo.tracking import observers_for

    if record is None:
        record = create_run(store, cfg, name)
    trackers = observers_for(cfg, store, record)
    observers = [o for o in (observer, *trackers) if o is not None]
    try:
        Driver(store, record, executor, ObserverGroup(observers) if observers else None, cfg=cfg).run()
    finally:
        for tracker in trackers:
            tracker.close()
    return store.get_run(record.id)


def run(
    config: str | Path | Mapping[str, Any] | JobConfig,
    *,
    name: str | None = None,
    db: str | Path | None = None,
    overrides: Sequence[str] = (),
    observers: Sequence[RunObserver] = (),
) -> Run:
    """Start a run, or resume the stored run of that name, and drive it to its last generation.

    Args:
        config: a YAML file, a mapping with its keys, or a ``JobConfig``
            (see :func:`evo.load_config`). ``executor.kind`` picks inline or Ray.
        name: the run's name; default: the config's ``name``, else the file's stem, else
            ``run-<hash of the config>``. An existing run of that name is resumed (its
            results-relevant config must be the same).
        db: the result database, a SQLAlchemy URL or a SQLite file path; default: the
            config's ``storage.url``.
        overrides: ``"key.sub=value"`` strings, as on the command line.
        observers: :class:`evo.RunObserver` instances, told of every generation and stored
            evaluation (your own logging; see docs/python-api.md).

    Returns:
        The run, finished (a run that was already finished is returned as it is).

    Raises:
        EvoError: a bad config or override, missing data, an unknown device, a run of that
            name with another config or driven elsewhere: before anything is written.
    """
    from evo.api.run_handle import Run
    from evo.execution import make_executor
    from evo.runner.preflight import preflight

    observer = observer_group(observers)
    given = {"storage.url": database_url(db) if db is not None else None, "name": name}
    cfg = load_config(config, overrides, {k: v for k, v in given.items() if v is not None})
    run_name = default_run_name(config, cfg)
    preflight(cfg)
    url = cfg.storage.url
    existing = existing_run(url, run_name, cfg)
    if existing is None or existing.status != "finished":
        # The executor starts before the store is written (or created): a cluster that
        # cannot run the job fails with the database as it was.
        with make_executor(cfg.executor) as executor, open_store(url, create=True) as store:
            drive(store, existing, cfg, run_name, executor, observer)
    return Run(url, run_name)
