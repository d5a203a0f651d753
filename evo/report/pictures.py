"""The report's picture sections: optimizer paths on the landscapes and loss-curve bands.

Both read a stored run through the :class:`storage.Store` API and return a
:class:`~evo.report.model.Section` (its figures written into the report folder). The run's
contenders are its best evolved genome and its fixed entries that are in the registry (by label).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from evo.config.stored_view import stored_view
from evo.evidence.ranked_entry import entry_name
from evo.report.landscape_plots import LandscapeDrawing
from evo.report.loss_curves import (
    CURVE_KEY,
    STEPS_KEY,
    Band,
    band,
    divergence_step,
    plot_loss_bands,
    read_curve,
)
from evo.report.model import Figure, Items, Section, Text, note
from evo.report.trajectories import contenders
from optimizers.registry import REGISTRY

if TYPE_CHECKING:
    from evo.evidence.ranked_entry import RankedEntry
    from storage import Store
    from storage.records import RunRecord

DEFAULT_STEPS = 500
"""Steps of a landscape path when no run gives them (registry entries alone), and the most a
report draws (a run's own steps come from :func:`evo.config.stored_view.stored_view`)."""


def shown_entries(ranking: list[RankedEntry]) -> tuple[RankedEntry | None, list[RankedEntry]]:
    """The best evolved genome (or None) and the fixed entries, in rank order."""
    evolved = [r for r in ranking if not r.is_fixed and r.genome is not None]
    return (evolved[0] if evolved else None), [r for r in ranking if r.is_fixed]


def run_steps(run: RunRecord) -> int:
    """The run's training steps per member (its config's ``evaluation.steps``)."""
    return stored_view(run.config, run.name).evaluation.steps


def landscape_section(
    out: Path, ranking: list[RankedEntry], steps: int, done: Callable[[str], None] | None = None
) -> Section:
    """Paths of the best genome and the registry's fixed entries on every landscape
    (``done`` is told each picture drawn)."""
    return start_landscape_section(out, ranking, steps)(done)


def start_landscape_section(
    out: Path, ranking: list[RankedEntry], steps: int
) -> Callable[[Callable[[str], None] | None], Section]:
    """Start drawing the landscape pictures (:class:`~evo.report.landscape_plots.LandscapeDrawing`)
    and return ``finish(done)``, which waits for them and returns the section."""
    title = "Optimizer paths on the landscapes"
    best, fixed = shown_entries(ranking)
    names = [entry_name(r) for r in fixed if entry_name(r) in REGISTRY]
    if best is None and not names:
        return lambda done: note(title, "No evaluated genome and no fixed entry to trace yet.")
    drawing = LandscapeDrawing(out, contenders(best.genome if best else None, names), steps)
    text = Text(
        f"Every optimizer runs {steps} steps from the same start points (white squares); "
        "gold stars are global minima, dashed segments are escape jumps, crosses end a "
        "diverged path. Redraw with `evo landscape RUN -o DIR`."
    )

    def finish(done: Callable[[str], None] | None) -> Section:
        images = drawing.wait(done)
        return Section(title, [text], [Figure(path.name, caption) for caption, path in images])

    return finish


def loss_bands(store: Store, run: RunRecord, ranking: list[RankedEntry]) -> dict[str, dict[str, Band]]:
    """``{task: {label: Band}}`` of the best genome and the fixed entries (tasks with data
    only); each band counts the entry's seeds on the task and when each diverged seed diverged."""
    best, fixed = shown_entries(ranking)
    labels = {r.entry_key: entry_name(r) for r in fixed}
    if best is not None:
        labels = {best.entry_key: f"evolved {best.entry_key[:8]}", **labels}
    rows = store.evaluations(list(labels), run.scope.budget_key, tasks=list(run.scope.tasks))
    curves: dict[tuple[str, str], list] = {}
    seeds: dict[tuple[str, str], int] = {}
    diverged: dict[tuple[str, str], list[int]] = {}
    for ev in rows:
        if ev.seed not in run.scope.seeds:
            continue
        key = (ev.task, labels[ev.entry_key])
        seeds[key] = seeds.get(key, 0) + 1
        if ev.status == "diverged":
            diverged.setdefault(key, []).append(divergence_step(ev.metrics))
        curve = read_curve(ev.metrics)
        if curve is not None:
            curves.setdefault(key, []).append(curve)
    out: dict[str, dict[str, Band]] = {}
    for task in run.scope.tasks:
        per = {
            label: band(curves[(task, label)], seeds[(task, label)], diverged.get((task, label), ()))
            for label in labels.values()
            if (task, label) in curves
        }
        if per:
            out[task] = per
    return out


def loss_curve_section(out: Path, store: Store, run: RunRecord, ranking: list[RankedEntry]) -> Section:
    """Loss-curve bands per task, or a line saying why there are none; the diverged seeds listed."""
    title = "Loss curves"
    bands = loss_bands(store, run, ranking)
    if not bands:
        return note(
            title,
            f"The stored evaluations carry no loss curves (metrics keys `{CURVE_KEY}` and "
            f"`{STEPS_KEY}`), so there is no figure.",
        )
    image = plot_loss_bands(out / "loss_curves.png", bands)
    parts: list = [
        Text(
            "Training loss of the best genome and the fixed entries: median over seeds, band 25th-75th "
            "percentile. A cross marks the step where a seed diverged; after it the line is dashed, "
            "since it then describes the surviving seeds only."
        )
    ]
    diverged = [
        f"{label} on {task}: {b.legend} (at step {', '.join(map(str, b.diverged_at))})"
        for task, per in bands.items()
        for label, b in per.items()
        if b.diverged_at
    ]
    if diverged:
        parts += [Text("Diverged seeds:"), Items(tuple(diverged))]
    return Section(title, parts, [Figure(image.name, title)])
