"""Tables: the best entries against the fixed entries (``evo best``, ``evo compare``, ``evo run``),
and the list of runs.

The best table is plain text laid out for the terminal's width: one row of numbers per entry
and its update rule on its own line underneath (short canonical form, and the known optimizer
it is: :mod:`evo.evidence.known_rule`), then a footer with the fitness scale and the marks.
Long task names wrap at ``_`` in the header so that four tasks fit 100 columns.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence

from rich.table import Table
from rich.text import Text

from evo.config.stored_view import stored_view
from evo.evidence.divergence import FITNESS_SCALE, diverged_note, mark
from evo.evidence.known_rule import known_name, short_rule
from evo.evidence.ranked_entry import RankedEntry, entry_name
from evo.runner.lease import shown_status
from storage.records import RunRecord

GAP = "  "
RULE_INDENT = "     "
DEFAULT_WIDTH = 100
NBSP = "\u00a0"
"""Glues a gene's name to its value while wrapping (textwrap breaks only at ASCII spaces)."""


def _num(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.4f}"


def rule_line(entry: RankedEntry) -> str:
    """What the entry computes: ``Adam-like, lr x11.9: 1.34*ADAM_TERM | lr 0.00887 ...``."""
    if entry.damaged:
        return f"(stored genome row damaged: {entry.damaged})"
    if entry.genome is None:
        return "opaque optimizer (a torch optimizer class, not a genome)"
    name = known_name(entry.genome)
    text = f"{name}: {short_rule(entry.genome)}" if name else short_rule(entry.genome)
    if not entry.complete:
        text = f"(partial: fitness from {entry.n_evaluations} stored seeds) {text}"
    return text


def _header_lines(name: str, width: int) -> list[str]:
    """``name`` over as few lines of ``width`` as its ``_``-pieces allow."""
    pieces = [p if i == 0 else "_" + p for i, p in enumerate(name.split("_"))]
    lines = [pieces[0]]
    for piece in pieces[1:]:
        if len(lines[-1]) + len(piece) <= width:
            lines[-1] += piece
        else:
            lines.append(piece)
    return lines


def _wrap(rule: str, width: int) -> list[str]:
    """``rule`` over lines of ``width``, breaking between genes ("lr 0.001" stays whole)."""
    glued = rule.replace(" | ", "\x00").replace(" ", NBSP).replace("\x00", " | ").replace(NBSP + "+", " +")
    glued = glued.replace(NBSP + "-" + NBSP, " -" + NBSP)
    return [
        part.replace(NBSP, " ") for part in textwrap.wrap(glued, width=max(width, 20), break_on_hyphens=False)
    ]


def best_lines(
    entries: Sequence[RankedEntry],
    tasks: Sequence[str],
    diverged: Mapping[str, Mapping[str, int]] | None = None,
    width: int = DEFAULT_WIDTH,
) -> list[tuple[str, bool]]:
    """``(line, is_fixed_row)`` of the table body: header, then per entry its row and rule line.

    A task cell carries :func:`evo.evidence.divergence.mark` of its diverged seeds."""
    diverged = diverged or {}
    heads = ["#", "entry", "kind", "fitness", *tasks]
    rows = [
        [
            str(e.rank), entry_name(e), "fixed" if e.is_fixed else "evolved", _num(e.fitness),
            *(_num(e.per_task.get(t)) + mark(diverged.get(e.entry_key, {}).get(t, 0)) for t in tasks),
        ]
        for e in entries
    ]  # fmt: skip
    cells = [max((len(r[i]) for r in rows), default=0) for i in range(len(heads))]
    widths = [max(c, len(h)) for c, h in zip(cells, heads, strict=True)]
    if sum(widths) + len(GAP) * (len(widths) - 1) > width:  # wrap long task names at "_"
        widths = [max(c, *(len(p) for p in h.split("_"))) for c, h in zip(cells, heads, strict=True)]
    wrapped = [_header_lines(h, w) for h, w in zip(heads, widths, strict=True)]
    depth = max(len(w) for w in wrapped)

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if i != 1 and i != 2 else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return GAP.join(parts).rstrip()

    out = [(line([w[d] if d < len(w) else "" for w in wrapped]), False) for d in range(depth)]
    out.append((GAP.join("-" * w for w in widths), False))
    for entry, row in zip(entries, rows, strict=True):
        out.append((line(row), entry.is_fixed))
        out += [
            (RULE_INDENT + part, entry.is_fixed) for part in _wrap(rule_line(entry), width - len(RULE_INDENT))
        ]
    return out


def best_table(
    entries: Sequence[RankedEntry],
    tasks: Sequence[str],
    title: str = "",
    diverged: Mapping[str, Mapping[str, int]] | None = None,
    n_seeds: int | None = None,
    width: int = DEFAULT_WIDTH,
    notes: Sequence[str] = (),
) -> Text:
    """The title, one row per entry (best first) with its rule line underneath, and the footer
    (``notes``, the diverged-seeds mark when a cell has one, the fitness scale).

    Fixed entries are ranked alongside the evolved genomes and shown in italics, so the table
    reads as "where does evolution stand against the known optimizers".
    """
    text = Text()
    if title:
        for part in textwrap.wrap(title, width=width):
            text.append(part + "\n", style="bold")
    for body, fixed in best_lines(entries, tasks, diverged, width):
        text.append(body + "\n", style="italic" if fixed else None)
    footer = list(notes)
    if diverged and any(any(v.values()) for v in diverged.values()):
        footer.append(diverged_note(n_seeds))
    footer.append(FITNESS_SCALE)
    for note in footer:
        text.append("\n".join(textwrap.wrap(note, width=width)) + "\n", style="dim")
    text.rstrip()
    return text


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
