"""Rich tables: the best genomes against the fixed entries, and the list of runs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from rich.table import Table

from evo.config.stored_view import stored_view
from evo.evidence.ranked_entry import RankedEntry, entry_name
from evo.run.lease import shown_status
from storage.records import RunRecord


def _num(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.4f}"


def best_table(entries: Sequence[RankedEntry], tasks: Sequence[str], title: str = "") -> Table:
    """One row per entry, best first: rank, name, kind, overall fitness, one column per task.

    Fixed entries are ranked alongside the evolved genomes and shown in italics, so the
    table reads as "where does evolution stand against the known optimizers".
    """
    table = Table(title=title or None, show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("entry")
    table.add_column("kind")
    table.add_column("fitness", justify="right")
    for task in tasks:
        table.add_column(task, justify="right")
    table.add_column("update rule", overflow="fold")
    for entry in entries:
        style = "italic" if entry.is_fixed else None
        kind = "fixed" if entry.is_fixed else "evolved"
        if not entry.complete:
            kind += " (partial)"
        rule = entry.genome.describe() if entry.genome is not None else "(opaque optimizer)"
        if entry.damaged:
            kind, rule = kind + " (damaged row)", f"(stored genome row damaged: {entry.damaged})"
        table.add_row(
            str(entry.rank),
            entry_name(entry),
            kind,
            _num(entry.fitness),
            *(_num(entry.per_task.get(task)) for task in tasks),
            rule,
            style=style,
        )
    return table


def runs_table(runs: Sequence[RunRecord], closed: Mapping[str, int], best: Mapping[str, float]) -> Table:
    """One row per run: name, status, generations closed / planned, best fitness, dates.

    A ``running`` run whose driver stopped renewing its lease shows as ``interrupted``."""
    table = Table(title="runs")
    for column in ("name", "id", "status", "generations", "best", "tasks", "created", "updated"):
        table.add_column(column, justify="right" if column in {"generations", "best"} else "left")
    for run in runs:
        planned = stored_view(run.config, run.name).population.generations
        table.add_row(
            run.name,
            str(run.id)[:8],
            shown_status(run),
            f"{closed.get(run.id, 0)}/{planned}",
            _num(best.get(run.id, math.nan)),
            ",".join(run.scope.tasks),
            f"{run.created_at:%Y-%m-%d %H:%M}",
            f"{run.updated_at:%Y-%m-%d %H:%M}",
        )
    return table
