"""The commands that evaluate: ``evo run``, ``evo resume`` and ``evo compare``.

Ctrl-C or SIGTERM during a run pauses it (exit 130). The training stack (driver, executor,
config) is imported inside the commands, so that the read commands start without it.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from evo.cli.support import (
    DEFAULT_DB,
    EXIT_INTERRUPTED,
    TOP_DEFAULT,
    AddressOption,
    ConfigArg,
    ConfigDbOption,
    DbOption,
    OverridesArg,
    RunArg,
    console,
    next_steps,
    open_store,
    option_values,
    print_best,
    ranked_with_fixed,
    say,
    say_lines,
    show_best,
)
from evo.runner.lease import refuse_if_live, shown_status

if TYPE_CHECKING:
    from evo.config.schema import JobConfig
    from evo.execution.executor import Executor
    from storage import Store
    from storage.records import RunRecord


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM (``docker stop``, ``kill``) like Ctrl-C: the run is paused, not lost."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _drive(store: Store, run: RunRecord, cfg: JobConfig, executor: Executor, db_url: str) -> None:
    """Run ``run`` (configured by ``cfg``) to its end on ``executor``, then print the final table."""
    from evo.api.runs import drive
    from evo.cli.progress import RichProgress

    try:
        with sigterm_as_interrupt(), RichProgress(console(stderr=True)) as progress:
            finished = drive(store, run, cfg, run.name, executor, progress)
    except KeyboardInterrupt:
        say(f"interrupted: run {run.name!r} is paused; continue it with: evo resume {run.name} --db {db_url}")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    entries = ranked_with_fixed(store, finished.id, TOP_DEFAULT)
    print_best(store, finished, entries=entries)
    say_lines(next_steps(finished, db_url, entries))


def run(
    config: ConfigArg,
    overrides: OverridesArg = None,
    db: ConfigDbOption = None,
    address: AddressOption = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Run name (default: the config's, else the file stem).")
    ] = None,
    repeats: Annotated[
        int,
        typer.Option("--repeats", min=1, help="Independent runs NAME-r0.. (GA seeds seed, seed+1, ...)."),
    ] = 1,
) -> None:
    """Start a run, or resume the run of that name if it exists."""
    from evo.api.config import load_config
    from evo.api.runs import existing_run
    from evo.evidence.repeats import repeat_configs
    from evo.execution import make_executor
    from evo.runner.driver import create_run
    from evo.runner.preflight import preflight

    base = load_config(config, overrides or [], option_values(db, address, name))
    for note in preflight(base):
        say(note)
    url = base.storage.url
    todo = []
    for run_name, cfg in repeat_configs(base, base.name or config.stem, repeats):
        existing = existing_run(url, run_name, cfg)
        if existing is not None and existing.status == "finished":
            say(f"run {run_name!r} already finished; its results:")
            with open_store(url) as store:
                print_best(store, existing)
            continue
        todo.append((run_name, cfg, existing))
    if not todo:
        return
    # The executor starts before the store is written (or even created): a cluster that
    # cannot run the job fails with the database as it was.
    with make_executor(base.executor) as executor, open_store(url, create=True) as store:
        for run_name, cfg, existing in todo:
            if existing is None:
                existing = create_run(store, cfg, run_name)
            else:
                say(f"run {run_name!r} exists ({shown_status(existing)}); resuming it")
            _drive(store, existing, cfg, executor, url)
    if repeats > 1:
        names = " ".join(n for n, _ in repeat_configs(base, base.name or config.stem, repeats))
        say(f"compare the repeats with: evo report {names} --db {url} -o report/")


def resume(run_name: RunArg, db: DbOption = DEFAULT_DB, address: AddressOption = None) -> None:
    """Continue a run from its first missing evaluation."""
    from evo.runner.driver import stored_config
    from evo.runner.preflight import preflight

    with open_store(db) as store:
        run_record = store.get_run(run_name)
        cfg = stored_config(run_record, option_values(address=address))
        for note in preflight(cfg):
            say(note)
        if run_record.status == "finished":
            say(f"run {run_record.name!r} already finished; its results:")
            print_best(store, run_record)
            return
        refuse_if_live(run_record)
        from evo.execution import make_executor

        with make_executor(cfg.executor) as executor:
            _drive(store, run_record, cfg, executor, db)


def compare(
    config: ConfigArg,
    overrides: OverridesArg = None,
    db: ConfigDbOption = None,
    address: AddressOption = None,
    against: Annotated[
        str | None, typer.Option("--run", help="Also: that run's best genome vs every fixed entry (paired).")
    ] = None,
) -> None:
    """Score only the fixed entries, on the config's tasks, seeds and budget."""
    from evo.cli.progress import RichProgress
    from evo.config.schema import load_config
    from evo.execution import make_executor
    from evo.runner.compare import score_fixed
    from evo.runner.preflight import preflight

    cfg = load_config(config, overrides or [], option_values(db, address))
    preflight(cfg)
    with (
        make_executor(cfg.executor) as executor,
        open_store(cfg.storage.url, create=True) as store,
        RichProgress(console(stderr=True)) as progress,
    ):
        entries = score_fixed(store, cfg, executor, progress)
        if against is not None:
            from evo.cli.versus import best_versus

            comparisons = best_versus(store, store.get_run(against), ["all"])
        tuned = f", lr-tuned per task over {cfg.fixed_lr_grid}" if len(cfg.fixed_lr_grid) > 1 else ""
        title = f"the {len(entries)} fixed entries ({cfg.budget_key}{tuned}; fitness, higher is better)"
        show_best(store, entries, cfg.tasks, cfg.budget_key, cfg.evaluation.seeds, title)
    for v in comparisons if against is not None else []:
        for line in v.lines():
            typer.echo(line)
