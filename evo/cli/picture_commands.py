"""The commands that draw: ``evo report`` (plots, markdown, index.html) and ``evo landscape``.

Plotting (matplotlib) and the reports are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evo.cli.support import DEFAULT_DB, DbOption, database_exists, open_store, say
from evo.errors import UsageError


def report(
    run_names: Annotated[list[str], typer.Argument(metavar="RUN...", help="Run(s); several: their spread.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the report files.")],
    db: DbOption = DEFAULT_DB,
    landscape_steps: Annotated[
        int | None,
        typer.Option("--landscape-steps", min=0, help="Steps per path (0: none; default: run's, <= 500)."),
    ] = None,
) -> None:
    """Write plots, a markdown report and a self-contained index.html of a run (or the spread of several)."""
    from evo.cli.step_progress import step_bar
    from evo.report.markdown import landscape_steps_of, report_steps, write_report

    if len(run_names) > 1:
        from evo.evidence.repeats import write_repeats_report

        with open_store(db, read_only=True) as store:
            path = write_repeats_report(store, run_names, output)
        typer.echo(path.read_text(encoding="utf-8"))
        say(f"wrote {path} and {path.with_name('index.html')}")
        return
    with open_store(db, read_only=True) as store:
        run_record = store.get_run(run_names[0])
        total = report_steps(landscape_steps_of(run_record, landscape_steps) > 0)
        with step_bar(f"report {run_record.name}", total) as done:
            path = write_report(store, run_record.id, output, landscape_steps=landscape_steps, progress=done)
    say(f"wrote {path} and {path.with_name('index.html')}")


def landscape(
    target: Annotated[
        str, typer.Argument(metavar="RUN_OR_ENTRIES", help="A run name or id, or entries: adam,alme.")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the landscape PNGs.")],
    db: DbOption = DEFAULT_DB,
    steps: Annotated[
        int | None, typer.Option("--steps", min=1, help="Steps per path (default: the run's, else 500).")
    ] = None,
) -> None:
    """Draw optimizer paths on the landscapes: a run's best genome and fixed entries, or named entries."""
    from evo.cli.step_progress import step_bar
    from evo.evidence.ranked_entry import entry_name
    from evo.evidence.ranking import best
    from evo.report.landscape_plots import PICTURES, draw_landscapes
    from evo.report.pictures import DEFAULT_STEPS, run_steps, shown_entries
    from evo.report.trajectories import contenders
    from optimizers.registry import REGISTRY

    names = [n.strip() for n in target.split(",")]
    if all(n in REGISTRY for n in names):
        chosen = contenders(None, names)
        n_steps = steps or DEFAULT_STEPS
    elif "," in target or not database_exists(db):
        unknown = ", ".join(n for n in names if n not in REGISTRY)
        raise UsageError(
            f"{target!r} is not a run in {db} and names unknown optimizer(s) {unknown}; "
            f"known: {', '.join(sorted(REGISTRY))}"
        )
    else:
        with open_store(db, read_only=True) as store:
            run_record = store.get_run(target)
            best_entry, fixed = shown_entries(best(store, run_record.id, top_k=None))
        fixed_names = [entry_name(r) for r in fixed if entry_name(r) in REGISTRY]
        if best_entry is None and not fixed_names:
            raise UsageError(f"run {run_record.name!r} has no evaluated genome or fixed entry yet")
        chosen = contenders(best_entry.genome if best_entry else None, fixed_names)
        n_steps = steps or run_steps(run_record)
    with step_bar("landscapes", PICTURES) as done:
        drawn = draw_landscapes(output, chosen, n_steps, done)
    for _, path in drawn:
        say(f"wrote {path}")
