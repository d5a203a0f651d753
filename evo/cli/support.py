"""What the ``evo`` commands share: consoles and messages, option types, the store's open, best tables.

Light at import (typer, rich, stdlib): the heavy modules a helper needs are imported inside it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from evo.api.stores import database_exists as database_exists  # re-exported: the commands' store open
from evo.api.stores import open_store as open_store
from evo.api.stores import sqlite_file as sqlite_file
from evo.cli.tables import best_table

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
    title = f"run {run.name!r}: best {top} evolved entries and the fixed entries (fitness, higher is better)"
    if any(e.lr_tuned for e in entries):
        title += "; fixed entries lr-tuned per task over the run's fixed_lr_grid"
    console().print(best_table(entries, tasks, title=title))
