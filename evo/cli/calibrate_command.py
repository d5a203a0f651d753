"""``evo calibrate EXPORTED.py|RUN --task NAME [--steps N] [-o OUT.py]``: an lr sweep on your task.

The rule (an exported file, or a run's rank-1 genome) is trained at seven rates around its
default on the task (:mod:`evo.calibrate.sweep`), picked on the validation split, and
re-exported with the pick as its default lr and the sweep in its header.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from evo.cli.support import DEFAULT_DB, DbOption, console, open_store, say
from evo.errors import UsageError

if TYPE_CHECKING:
    from evo.calibrate.sweep import SweepPoint
    from optimizers.genome import Genome


def _rule(source: str, db: str) -> tuple[Genome, str, int, str]:
    """(genome, class name, total_steps, origin) of an exported file or a run's rank-1 genome."""
    if source.endswith(".py"):
        from evo.calibrate.exported_file import read_exported

        path = Path(source)
        if not path.is_file():
            raise UsageError(f"{source}: no such exported optimizer file")
        rule = read_exported(path)
        return rule.genome, rule.class_name, rule.total_steps, f"{path.name} (genome {rule.genome.hash})"
    from evo.evidence.export_choice import ranked_genome, run_steps
    from evo.evidence.known_rule import class_name_for

    with open_store(db, read_only=True) as store:
        run_record = store.get_run(source)
        genome = ranked_genome(store, run_record, 1, "search")
    origin = f"run {run_record.name} rank 1 (genome {genome.hash})"
    return genome, class_name_for(genome), run_steps(run_record), origin


@contextmanager
def _sweep_progress(task: str) -> Iterator[Callable[[SweepPoint], None]]:
    """A rich progress bar over the sweep's rates on a terminal (one line per rate elsewhere);
    yields the callback the sweep calls after each rate."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from evo.calibrate.sweep import GRID_DECADES

    err = console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, disable=not err.is_terminal) as progress:
        bar = progress.add_task(f"lr sweep on {task}", total=len(GRID_DECADES))

        def done(point: SweepPoint) -> None:
            progress.update(bar, advance=1, description=f"lr {point.lr:.3g}: fitness {point.fitness:.4f}")
            if not err.is_terminal:
                err.print(f"lr {point.lr:.3g}: mean validation fitness {point.fitness:.4f}", highlight=False)

        yield done


def calibrate(
    source: Annotated[str, typer.Argument(metavar="EXPORTED.py|RUN", help="An exported file, or a run.")],
    task: Annotated[
        str,
        typer.Option(
            "--task",
            help="Task: a built-in task, module:factory, or {import: ..., name: ..., kwargs: ...}.",
        ),
    ],
    steps: Annotated[int, typer.Option("--steps", min=1, help="Training steps per rate and seed.")] = 200,
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Seeds per rate (0..N-1).")] = 2,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="File to write (default: <name>_calibrated.py).")
    ] = None,
    db: DbOption = DEFAULT_DB,
    data_dir: Annotated[str, typer.Option("--data-dir", help="Data folder of data-set tasks.")] = "./data",
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")] = "auto",
) -> None:
    """Sweep the rule's lr on a task (validation split) and write it with the best lr as default."""
    from evo.calibrate.task_argument import task_argument

    task = task_argument(task)
    genome, class_name, total_steps, origin = _rule(source, db)
    stem = Path(source).stem if source.endswith(".py") else source
    output = output or Path(f"{stem}_calibrated.py")
    if source.endswith(".py") and output.resolve() == Path(source).resolve():
        raise UsageError("-o: write the calibrated rule to a new file, not over its source")
    from evo.calibrate.output import calibrate_and_write

    with _sweep_progress(task) as on_point:
        path, picked, sweep = calibrate_and_write(
            genome, task, steps, list(range(seeds)), output, class_name, total_steps, origin,
            data_dir=data_dir, device=device, on_point=on_point,
        )  # fmt: skip
    out = console()
    for point in sweep.points:
        mark = "  <- pick" if point is sweep.pick else ("  (default)" if point.decade == 0.0 else "")
        out.print(f"lr {point.lr:9.3g}  fitness {point.fitness:.4f}{mark}", highlight=False)
    say(f"wrote {path} ({class_name}: lr {picked.lr:.3g}, default was {genome.lr:.3g})")
