"""What the ``evo`` commands share: consoles and messages, option types, the store's open, best tables.

Light at import (typer, rich, stdlib): the heavy modules a helper needs are imported inside it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from evo.api.stores import database_exists as database_exists  # re-exported: the commands' store open
from evo.api.stores import open_store as open_store
from evo.api.stores import sqlite_file as sqlite_file
from evo.cli.tables import best_table
from evo.evidence.export_choice import no_evolved_genome

if TYPE_CHECKING:
    from evo.evidence.ranked_entry import RankedEntry
    from storage import Store
    from storage.records import RunRecord

DEFAULT_DB = "sqlite:///runs/evo.db"
TOP_DEFAULT = 10
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
PIPE_WIDTH = 160
"""Table width when stdout is not a terminal and COLUMNS is unset (rich would use 80)."""


def console(stderr: bool = False) -> Console:
    """A console on the current stdout/stderr; wide when writing to a pipe or file."""
    shown = Console(stderr=stderr)
    if not shown.is_terminal and "COLUMNS" not in os.environ:
        shown = Console(stderr=stderr, width=PIPE_WIDTH)
    return shown


def say(message: str) -> None:
    """One plain message line on stderr."""
    console(stderr=True).print(message, highlight=False, markup=False)


DbOption = Annotated[str, typer.Option("--db", envvar="EVO_DB", help="SQLAlchemy URL of the result store.")]
ConfigArg = Annotated[Path, typer.Argument(metavar="CONFIG", help="YAML job config file.")]
RunArg = Annotated[str, typer.Argument(metavar="RUN", help="Run name or id.")]
OverridesArg = Annotated[
    list[str] | None,
    typer.Argument(metavar="KEY=VALUE", help="Config overrides key.sub=value, e.g. population.size=8."),
]
ConfigDbOption = Annotated[
    str | None, typer.Option("--db", envvar="EVO_DB", help="SQLAlchemy URL of the store (default: config's).")
]
AddressOption = Annotated[
    str | None, typer.Option("--address", help="Join this Ray cluster (e.g. 'auto' or 'head:6379').")
]


def option_values(
    db: str | None = None, address: str | None = None, name: str | None = None
) -> dict[str, str]:
    """The options ``--db``, ``--address``, ``--name`` as config values (the ones given):
    plain overrides of ``storage.url``, ``executor.address`` and ``name``, set after the
    ``key=value`` ones and validated with the rest of the config in its one parse."""
    given = {"storage.url": db, "executor.address": address, "name": name}
    return {key: value for key, value in given.items() if value is not None}


def ranked_with_fixed(store: Store, run_id: int, top: int, task: str | None = None) -> list[RankedEntry]:
    """The ``top`` best evolved entries plus every fixed entry, in rank order.

    The fixed entries are always shown, whatever their rank: the table answers "where does
    evolution stand against the known optimizers".
    """
    from evo.evidence.ranking import best

    return best(store, run_id, top_k=top, task=task, fixed_too=True)


def best_title(run_name: str, entries: Sequence[RankedEntry], top: int, what: str = "fitness") -> str:
    """A title that counts what the table holds: ``run 'quick': the 10 best evolved entries and
    the 8 fixed entries (fitness, higher is better)``; "all 3" when fewer than ``top`` exist, and
    "no evolved genome yet" when only fixed entries were scored."""
    n_evolved = sum(not e.is_fixed for e in entries)
    n_fixed = len(entries) - n_evolved
    fixed = f"the {n_fixed} fixed {'entry' if n_fixed == 1 else 'entries'}"
    if n_evolved == 0:
        held = f"no evolved genome scored yet, only {fixed}"
    else:
        count = f"the {n_evolved} best" if n_evolved >= top else f"all {n_evolved}"
        held = f"{count} evolved {'entry' if n_evolved == 1 else 'entries'} and {fixed}"
    return f"run {run_name!r}: {held} ({what}, higher is better)"


def show_best(
    store: Store,
    entries: Sequence[RankedEntry],
    tasks: Sequence[str],
    budget_key: str,
    seeds: Sequence[int],
    title: str,
    notes: Sequence[str] = (),
) -> None:
    """Print :func:`evo.cli.tables.best_table` at the console's width, diverged seeds marked."""
    from evo.evidence.divergence import diverged_counts

    diverged = diverged_counts(store, budget_key, tasks, seeds, entries)
    shown = console()
    shown.print(
        best_table(entries, tasks, title, diverged, len(seeds), width=shown.width, notes=notes),
        highlight=False,
        soft_wrap=True,
    )


def print_best(
    store: Store,
    run: RunRecord,
    top: int = TOP_DEFAULT,
    task: str | None = None,
    entries: list[RankedEntry] | None = None,
) -> None:
    """Print the run's best table (``entries``, else the ``top`` best evolved plus the fixed) on stdout."""
    if entries is None:
        entries = ranked_with_fixed(store, run.id, top, task)
    tasks = [task] if task else list(run.scope.tasks)
    notes = []
    if any(e.lr_tuned for e in entries):
        notes.append("fixed entries (tuned): lr-tuned per task over the run's fixed_lr_grid")
    scope = run.scope
    show_best(store, entries, tasks, scope.budget_key, scope.seeds, best_title(run.name, entries, top), notes)


def has_evolved(entries: Sequence[RankedEntry]) -> bool:
    """Whether any entry is an evolved genome (not one of the fixed entries)."""
    return any(not e.is_fixed for e in entries)


def next_steps(run: RunRecord, db_url: str, entries: Sequence[RankedEntry]) -> list[str]:
    """What to run after a run, as lines for stderr (each command on a line of its own, so that
    it copies whole): export the winner, or, with no evolved genome scored, say so and suggest
    a command that works (export the best fixed genome entry)."""
    if has_evolved(entries):
        return ["export the winner with:", f"  evo export {run.name} --db {db_url} -o evolved_optimizer.py"]
    lines = [no_evolved_genome(run)]
    genome_entries = [e for e in entries if e.is_fixed and e.genome is not None and e.label]
    if genome_entries:
        name = genome_entries[0].label
        lines += [
            "or export its best fixed genome entry:",
            f"  evo export {run.name} --db {db_url} --genome {name} -o {name}_optimizer.py",
        ]
    return lines


def say_lines(lines: Sequence[str]) -> None:
    """Plain lines on stderr, not re-wrapped (a command stays on one line)."""
    for line in lines:
        typer.echo(line, err=True)
