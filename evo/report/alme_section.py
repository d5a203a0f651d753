"""The report's section on ALME's escape events: per (entry, task, seed) the number of escapes
and their steps, and the stored loss curves with the escapes marked (``alme_escapes.png``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evo.evidence.ranked_entry import entry_name
from evo.report import plots
from evo.report.model import Figure, Section, Table, Text, note

if TYPE_CHECKING:
    from evo.evidence.ranked_entry import RankedEntry
    from storage import Store
    from storage.records import RunRecord

ALME_PREFIX = "alme"
LOSS_CURVE_KEY = "loss_curve"
LOSS_CURVE_STEPS_KEY = "loss_curve_steps"
ESCAPE_STEPS_KEY = "escape_steps"
ESCAPE_COUNT_KEY = "escape_count"
TITLE = "ALME escape events"


def alme_section(store: Store, run: RunRecord, alme: Sequence[RankedEntry], out: Path) -> Section | None:
    """Escapes per (entry, task, seed) of the ALME entries ``alme`` (None when there are none)."""
    if not alme:
        return None
    labels = {r.entry_key: entry_name(r) for r in alme}
    evaluations = store.evaluations(list(labels), run.scope.budget_key, tasks=list(run.scope.tasks))
    curves, rows = [], []
    for ev in evaluations:
        if ev.seed not in run.scope.seeds:
            continue
        curve, curve_steps, steps, count = loss_curves(ev.metrics or {})
        if count is None and not steps and not curve:
            continue
        n_escapes = count if count is not None else len(steps)
        rows.append(
            (labels[ev.entry_key], ev.task, str(ev.seed), str(n_escapes), ", ".join(map(str, steps)) or "-")
        )
        if curve:
            curves.append((f"{labels[ev.entry_key]} {ev.task} s{ev.seed}", curve_steps, curve, steps))
    if not rows:
        keys = ", ".join(
            f"`{k}`" for k in (LOSS_CURVE_KEY, LOSS_CURVE_STEPS_KEY, ESCAPE_STEPS_KEY, ESCAPE_COUNT_KEY)
        )
        return note(TITLE, f"The stored ALME metrics carry no escape data (keys read: {keys}).")
    table = Table(
        ("entry", "task", "seed", "escapes", "escape steps"), tuple(rows), ("l", "l", "r", "r", "l")
    )
    if curves:
        plots.plot_loss_curves(out / "alme_escapes.png", curves)
        return Section(TITLE, [table], [Figure("alme_escapes.png", TITLE)])
    return Section(TITLE, [Text(f"No loss curve stored (key `{LOSS_CURVE_KEY}`), so no figure."), table])


def loss_curves(metrics: Mapping[str, Any]) -> tuple[list[float], list[int], list[int], int | None]:
    """Loss curve, its steps, escape steps and escape count from one evaluation's stored metrics.

    Reads exactly the worker's keys (``workers.requests.MemberResult``): ``loss_curve`` (the
    training loss downsampled to <= 50 window means), ``loss_curve_steps`` (each window's last
    step), ``escape_steps`` and ``escape_count``. Missing keys give ``[]``, ``[]``, ``[]`` and
    None; a curve whose steps do not match it in length is dropped.
    """

    def numbers(key: str) -> list[float]:
        values = metrics.get(key)
        if not isinstance(values, list):
            return []
        return [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]

    curve, curve_steps = numbers(LOSS_CURVE_KEY), [int(s) for s in numbers(LOSS_CURVE_STEPS_KEY)]
    if len(curve) != len(curve_steps):
        curve, curve_steps = [], []
    count = metrics.get(ESCAPE_COUNT_KEY)
    escapes = [int(s) for s in numbers(ESCAPE_STEPS_KEY)]
    number = int(count) if isinstance(count, int | float) and math.isfinite(count) else None
    return curve, curve_steps, escapes, number
