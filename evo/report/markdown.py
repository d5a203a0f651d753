"""``evo report RUN -o DIR``: the figures, ``report.md`` and ``index.html`` of one run.

The report reads a stored run through the :class:`storage.Store` API only (it works on any
run, finished or not, with or without fixed entries), builds one report model
(:class:`evo.report.model.Report`: the sections, each with its figures) and renders it twice
from the same model (:mod:`evo.report.render`): ``report.md`` and a self-contained
``index.html`` with the same sections and every figure. Figures written into ``out_dir``:

* ``fitness.png``: best / mean (+- std) fitness per closed generation, the fixed entries as
  horizontal lines;
* ``holdout.png``: training vs held-out fitness of each generation's best genome (runs with
  held-out tasks);
* ``per_task.png``: per-task fitness of the top evolved genomes and of every fixed entry;
* ``term_weights.png``: the canonical term weights of each generation's best genome;
* ``diversity.png``: distinct canonical hashes per generation against the population size;
* ``alme_escapes.png``: for ALME entries whose stored metrics carry a loss curve, the curve
  with its escape events (see :func:`loss_curves`);
* ``landscape_*.png``: paths of the best genome and the fixed entries on the landscapes
  (:mod:`evo.report.pictures`; skipped with ``landscape_steps=0``);
* ``loss_curves.png``: loss-curve bands per task from the stored per-member curves, diverged
  seeds marked.

A figure whose data does not exist yet (no closed generation, no ALME entry) is not drawn
and its section says why. ``progress`` (optional) is told each finished step
(:class:`ReportProgress`): :func:`report_steps` of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from evo.config.stored_view import stored_view
from evo.evidence.ranked_entry import entry_name
from evo.evidence.ranking import best
from evo.evidence.rediscovery import rediscovery_line
from evo.output_paths import writable_folder, writing
from evo.report import sections as build
from evo.report.alme_section import ALME_PREFIX, alme_section, loss_curves
from evo.report.holdout_section import holdout_section
from evo.report.landscape_plots import PICTURES
from evo.report.model import Report
from evo.report.pictures import DEFAULT_STEPS, loss_curve_section, run_steps, start_landscape_section
from evo.report.render import render
from evo.search.aggregation import genome_fitness
from optimizers.genome import Genome

if TYPE_CHECKING:
    from storage import Store
    from storage.records import RunRecord

__all__ = ["best_per_generation", "loss_curves", "population_diversity", "report_steps", "write_report"]
SECTION_STEPS = 13
"""Steps of a report besides the landscape pictures: reading, each section, rendering."""


class ReportProgress(Protocol):
    """Told each finished step of :func:`write_report` (a progress bar, or nothing)."""

    def __call__(self, what: str) -> None: ...


def report_steps(landscapes: bool) -> int:
    """How many times :func:`write_report` calls its ``progress``."""
    return SECTION_STEPS + (PICTURES if landscapes else 0)


def write_report(
    store: Store,
    run_id: int,
    out_dir: str | Path,
    landscape_steps: int | None = None,
    progress: ReportProgress | None = None,
) -> Path:
    """Write the figures, ``report.md`` and ``index.html`` of run ``run_id`` into ``out_dir``.

    Args:
        store: an open :class:`storage.Store`.
        run_id: the run's id (a name also works, as for :meth:`Store.get_run`).
        out_dir: created if missing; existing report files are overwritten.
        landscape_steps: steps of the landscape paths (default: the run's steps, at most
            :data:`evo.report.pictures.DEFAULT_STEPS`); 0 leaves the landscapes out.
        progress: called with a short description after each step (:func:`report_steps`).
    Returns:
        The path of ``report.md``.
    Raises:
        storage.errors.UnknownRunError: no such run.
        evo.output_paths.OutputError: ``out_dir`` cannot be created or written.
    """
    run = store.get_run(run_id)
    out = writable_folder(out_dir)
    with writing(out, "folder"):
        report = build_report(store, run, out, landscape_steps, progress or (lambda what: None))
        markdown, _ = render(report, out)
    if progress is not None:
        progress("report.md and index.html")
    return markdown


def landscape_steps_of(run: RunRecord, landscape_steps: int | None) -> int:
    """The steps of the report's landscape paths (see :func:`write_report`)."""
    return min(run_steps(run), DEFAULT_STEPS) if landscape_steps is None else landscape_steps


def build_report(
    store: Store, run: RunRecord, out: Path, landscape_steps: int | None, done: Callable[[str], None]
) -> Report:
    """The report model of ``run``; draws every figure into ``out`` on the way."""
    ranking = best(store, run.id, top_k=None)
    fixed = [r for r in ranking if r.is_fixed]
    evolved = [r for r in ranking if not r.is_fixed]
    generations = list(store.generations(run.id))
    indices = [g.index for g in generations]
    trace = best_per_generation(store, run, indices)
    summary = build.summary_items(run, generations, evolved)
    if stored_view(run.config, run.name).population.init == "random":
        line = rediscovery_line([(g, f) for g, f, _ in trace], fixed)
        if line:
            summary.append(line.removeprefix("- ").strip())
    done("ranking and generations read")
    steps = landscape_steps_of(run, landscape_steps)
    landscapes = start_landscape_section(out, ranking, steps) if steps > 0 else None  # drawn meanwhile
    makers: list[tuple[str, Callable[[], Any]]] = [
        ("fitness", lambda: build.fitness_section(out, generations, fixed)),
        ("held-out", lambda: holdout_section(out, store, run, trace)),
        ("per task", lambda: build.per_task_section(out, run, ranking, evolved[: build.TOP_GENOMES] + fixed)),
        ("paired statistics", lambda: build.paired_section(store, run, evolved, fixed)),
        ("term weights", lambda: build.term_weights_section(out, trace)),
        ("diversity", lambda: build.diversity_section(out, population_diversity(store, run.id, indices))),
        ("ALME escapes", lambda: alme_section(store, run, [r for r in fixed if _is_alme(r)], out)),
        ("landscapes", lambda: None),  # its place; waited for last
        ("loss curves", lambda: loss_curve_section(out, store, run, ranking)),
        ("top genomes", lambda: build.top_genomes_section(run, evolved[: build.TOP_GENOMES])),
        ("timings", lambda: build.timing_section(generations)),
    ]
    made: dict[str, Any] = {}
    for what, make in makers:
        if what != "landscapes":
            made[what] = make()
            done(what)
    if landscapes is not None:
        made["landscapes"] = section = landscapes(done)
        for _ in range(PICTURES - len(section.figures)):  # pictures not drawn still count as steps
            done("no landscape to draw")
    done("landscapes")
    sections = [made[what] for what, _ in makers if made.get(what) is not None]
    sections.append(build.config_section(run))
    return Report(f"Report: run {run.name} (id {run.id})", summary, sections)


def _is_alme(r: Any) -> bool:
    return entry_name(r).startswith(ALME_PREFIX) or r.entry_key.startswith(ALME_PREFIX)


# -- data -------------------------------------------------------------------------------
def best_per_generation(
    store: Store, run: RunRecord, generations: Sequence[int]
) -> list[tuple[int, float, Genome]]:
    """``(generation, fitness, genome)`` of the best evaluated genome of each generation."""
    trace = []
    for gen in generations:
        genomes = {i.entry_key: i.genome for i in store.individuals(run.id, gen) if i.genome is not None}
        if not genomes:
            continue
        rows = store.evaluations(list(genomes), run.scope.budget_key, tasks=list(run.scope.tasks))
        scores = genome_fitness(rows, genomes, run.scope.tasks, run.scope.seeds)
        fitness = {k: v for k, v in scores.items() if _finite(v)}
        if fitness:
            key = max(fitness, key=lambda k: (fitness[k], k))
            trace.append((gen, fitness[key], genomes[key]))
    return trace


def population_diversity(store: Store, run_id: int, generations: Sequence[int]) -> list[tuple[int, int, int]]:
    """``(generation, distinct canonical hashes, population size)`` per generation."""
    rows = []
    for gen in generations:
        members = [i for i in store.individuals(run_id, gen) if i.origin != "fixed"]
        if members:
            rows.append((gen, len({i.entry_key for i in members}), len(members)))
    return rows


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)
