"""A progress bar for commands that take a known number of steps (``evo report``,
``evo landscape``): a rich bar on a terminal, nothing elsewhere (logs, pipes, CI)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


@contextmanager
def step_bar(description: str, total: int, console: Console | None = None) -> Iterator[Callable[[str], None]]:
    """Yield ``done(what)``, to be called after each of ``total`` steps; it advances a bar
    (drawn on ``console``, stderr by default, only when that is a terminal) and shows ``what``
    as the step just finished. The bar is removed when the block ends."""
    console = console or Console(stderr=True)
    if not console.is_terminal:
        yield lambda what: None
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[what]}"),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(description, total=total, what="")
        yield lambda what: progress.update(task, advance=1, what=f"done: {what}")
