"""``evo report RUN -o DIR``: PNG plots and a ``report.md`` that embeds them.

The report reads a stored run through the :class:`storage.Store` API only (it works on any
run, finished or not, with or without fixed entries) and writes into ``out_dir``:

* ``fitness.png``: best / mean (+- std) fitness per closed generation, the fixed entries as
  horizontal lines;
* ``per_task.png``: per-task fitness of the top evolved genomes and of every fixed entry;
* ``term_weights.png``: the canonical term weights of each generation's best genome;
* ``diversity.png``: distinct canonical hashes per generation against the population size;
* ``alme_escapes.png``: for ALME entries whose stored metrics carry a loss curve, the curve
  with its escape events (see :func:`loss_curves`);
* ``landscape_*.png``: paths of the best genome and the fixed entries on the landscapes
  (:mod:`evo.report.pictures`; skipped with ``landscape_steps=0``);
* ``loss_curves.png``: loss-curve bands per task from the stored per-member curves;
* ``report.md``: run summary, tables (generations, ranking, top genomes) and the images;
* ``index.html``: the same as one self-contained page (:mod:`evo.report.html`).

A figure whose data does not exist yet (no closed generation, no ALME entry) is not drawn
and ``report.md`` says why. Fitness of an entry in one generation is the mean over tasks of
the mean over seeds of the stored evaluation fitness (the GA's fitness).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evo.config.stored_view import stored_view
from evo.evidence.paired import markdown as paired_markdown
from evo.evidence.paired import versus
from evo.evidence.ranked_entry import entry_name
from evo.evidence.ranking import best
from evo.evidence.rediscovery import rediscovery_line
from evo.output_paths import writable_folder, writing
from evo.report import plots
from evo.report.holdout_section import holdout_section
from evo.report.html import write_html
from evo.report.pictures import DEFAULT_STEPS, landscape_section, loss_curve_section, run_steps
from evo.run.timing import timing_markdown
from evo.search.aggregation import genome_fitness
from optimizers.genome import Genome

if TYPE_CHECKING:
    from evo.evidence.ranked_entry import RankedEntry
    from storage import Store
    from storage.records import GenerationRecord, RunRecord

TOP_GENOMES = 3
"""Evolved genomes shown beside the fixed entries in the per-task figure."""
TOP_TABLE = 10
"""Rows of the ranking table."""
ALME_PREFIX = "alme"
LOSS_CURVE_KEY = "loss_curve"
LOSS_CURVE_STEPS_KEY = "loss_curve_steps"
ESCAPE_STEPS_KEY = "escape_steps"
ESCAPE_COUNT_KEY = "escape_count"


def write_report(store: Store, run_id: int, out_dir: str | Path, landscape_steps: int | None = None) -> Path:
    """Write the plots and ``report.md`` of run ``run_id`` into ``out_dir``.

    Args:
        store: an open :class:`storage.Store`.
        run_id: the run's id (a name also works, as for :meth:`Store.get_run`).
        out_dir: created if missing; existing report files are overwritten.
        landscape_steps: steps of the landscape paths (default: the run's steps, at most
            :data:`evo.report.pictures.DEFAULT_STEPS`); 0 leaves the landscapes out.
    Returns:
        The path of ``report.md``.
    Raises:
        storage.errors.UnknownRunError: no such run.
        evo.output_paths.OutputError: ``out_dir`` cannot be created or written.
    """
    run = store.get_run(run_id)
    out = writable_folder(out_dir)
    with writing(out, "folder"):
        return _write_report(store, run, out, landscape_steps)


def _write_report(store: Store, run: RunRecord, out: Path, landscape_steps: int | None) -> Path:
    ranking = best(store, run.id, top_k=None)
    fixed = [r for r in ranking if r.is_fixed]
    evolved = [r for r in ranking if not r.is_fixed]
    generations = list(store.generations(run.id))
    indices = [g.index for g in generations]
    trace = best_per_generation(store, run, indices)
    summary = _summary(run, generations, evolved)
    if stored_view(run.config, run.name).population.init == "random":
        summary += (rediscovery_line([(g, f) for g, f, _ in trace], fixed) or "") + "\n"
    sections = [
        summary,
        _fitness_section(out, generations, fixed),
        holdout_section(out, store, run, trace),
        _per_task_section(out, run, ranking, evolved[:TOP_GENOMES] + fixed),
        _paired_section(store, run, evolved, fixed),
        _term_weights_section(out, trace),
        _diversity_section(out, population_diversity(store, run.id, indices)),
    ]
    alme = [r for r in fixed if _label(r).startswith(ALME_PREFIX) or r.entry_key.startswith(ALME_PREFIX)]
    if alme:
        sections.append(_alme_section(store, run, alme, out))
    steps = min(run_steps(run), DEFAULT_STEPS) if landscape_steps is None else landscape_steps
    pictures = [loss_curve_section(out, store, run, ranking)]
    if steps > 0:
        pictures.insert(0, landscape_section(out, ranking, steps))
    sections.extend(p.markdown() for p in pictures)
    sections.append(_top_genomes(evolved[:TOP_GENOMES]))
    sections.append(timing_markdown(generations))
    path = out / "report.md"
    path.write_text("\n".join(sections), encoding="utf-8")
    write_html(store, run, out, ranking, generations, pictures)
    return path


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
    number = int(count) if isinstance(count, int | float) and _finite(count) else None
    return curve, curve_steps, escapes, number


# -- sections: each draws its figure (when it has data) and returns its markdown -------------
def _fitness_section(out: Path, generations: Sequence[GenerationRecord], fixed: Sequence[RankedEntry]) -> str:
    title = "Fitness per generation"
    if not generations:
        return f"## {title}\n\nNo generation has been closed yet.\n"
    plots.plot_fitness(
        out / "fitness.png",
        [g.index for g in generations],
        [_nan_to(g.best_fitness) for g in generations],
        [_nan_to(g.mean_fitness) for g in generations],
        [_nan_to(g.std_fitness, 0.0) for g in generations],
        {_label(r): r.fitness for r in fixed if _finite(r.fitness)},
    )
    rows = [
        f"| {g.index} | {_fmt(g.best_fitness)} | {_fmt(g.mean_fitness)} | {_fmt(g.std_fitness)} |"
        for g in generations
    ]
    table = "| generation | best | mean | std |\n|---:|---:|---:|---:|\n" + "\n".join(rows)
    return _figure(title, "fitness.png", table)


def _per_task_section(
    out: Path, run: RunRecord, ranking: Sequence[RankedEntry], shown: Sequence[RankedEntry]
) -> str:
    title = "Per-task fitness"
    bars = {_label(r): r.per_task for r in shown if r.per_task}
    if not bars:
        return f"## {title}\n\nNo evaluation has been recorded yet.\n"
    tasks = list(run.scope.tasks) or sorted({t for v in bars.values() for t in v})
    plots.plot_per_task(out / "per_task.png", tasks, bars, fixed={_label(r) for r in shown if r.is_fixed})
    head = "| rank | entry | fixed | fitness | " + " | ".join(tasks) + " |"
    rule = "|---:|---|---|---:|" + "---:|" * len(tasks)
    rows = [
        f"| {r.rank} | {_label(r)} | {'yes' if r.is_fixed else ''} | {_fmt(r.fitness)} | "
        + " | ".join(_fmt(r.per_task.get(t)) for t in tasks)
        + " |"
        for r in ranking[:TOP_TABLE]
    ]
    return _figure(title, "per_task.png", "\n".join([head, rule, *rows]))


def _paired_section(
    store: Store, run: RunRecord, evolved: Sequence[RankedEntry], fixed: Sequence[RankedEntry]
) -> str:
    title = "Best genome vs the fixed entries (paired by task and seed)"
    if not evolved:
        return f"## {title}\n\n" + paired_markdown([])
    baselines = [(r.entry_key, _label(r)) for r in fixed if r.entry_key != evolved[0].entry_key]
    comparisons = versus(store, run.scope, (evolved[0].entry_key, _label(evolved[0])), baselines, tuned=fixed)
    note = "Differences are best minus baseline; significant: the 95% bootstrap interval lies above 0.\n\n"
    return f"## {title}\n\n{note}{paired_markdown(comparisons)}"


def _term_weights_section(out: Path, trace: Sequence[tuple[int, float, Genome]]) -> str:
    title = "Best genome's term weights"
    if not trace:
        return f"## {title}\n\nNo evaluated generation yet.\n"
    canonical = [(gen, fit, g.canonical()) for gen, fit, g in trace]
    gens, weights = [c[0] for c in canonical], [c[2].term_weights() for c in canonical]
    plots.plot_term_weights(out / "term_weights.png", gens, weights)
    rows = [f"| {gen} | {fit:.4f} | `{g.hash[:10]}` | {_cell(g.describe())} |" for gen, fit, g in canonical]
    head = "| generation | fitness | hash | best genome (canonical form) |\n|---:|---:|---|---|\n"
    return _figure(title, "term_weights.png", head + "\n".join(rows))


def _diversity_section(out: Path, diversity: Sequence[tuple[int, int, int]]) -> str:
    title = "Population diversity"
    if not diversity:
        return f"## {title}\n\nNo generation has been saved yet.\n"
    gens, distinct, sizes = zip(*diversity, strict=True)
    plots.plot_diversity(out / "diversity.png", gens, distinct, sizes)
    text = "Distinct canonical genome hashes per generation; equivalent genomes are evaluated once."
    return _figure(title, "diversity.png", text)


def _alme_section(store: Store, run: RunRecord, alme: Sequence[RankedEntry], out: Path) -> str:
    title = "ALME escape events"
    labels = {r.entry_key: _label(r) for r in alme}
    evaluations = store.evaluations(list(labels), run.scope.budget_key, tasks=list(run.scope.tasks))
    curves, rows = [], []
    for ev in evaluations:
        if ev.seed not in run.scope.seeds:
            continue
        curve, curve_steps, steps, count = loss_curves(ev.metrics or {})
        if count is None and not steps and not curve:
            continue
        n_escapes = count if count is not None else len(steps)
        shown = ", ".join(map(str, steps)) or "-"
        rows.append(f"| {labels[ev.entry_key]} | {ev.task} | {ev.seed} | {n_escapes} | {shown} |")
        if curve:
            curves.append((f"{labels[ev.entry_key]} {ev.task} s{ev.seed}", curve_steps, curve, steps))
    if not rows:
        keys = ", ".join(
            f"`{k}`" for k in (LOSS_CURVE_KEY, LOSS_CURVE_STEPS_KEY, ESCAPE_STEPS_KEY, ESCAPE_COUNT_KEY)
        )
        return f"## {title}\n\nThe stored ALME metrics carry no escape data (keys read: {keys}).\n"
    table = "| entry | task | seed | escapes | escape steps |\n|---|---|---:|---:|---|\n" + "\n".join(rows)
    if curves:
        plots.plot_loss_curves(out / "alme_escapes.png", curves)
        return _figure(title, "alme_escapes.png", table)
    return f"## {title}\n\nNo loss curve stored (key `{LOSS_CURVE_KEY}`), so no figure.\n\n{table}\n"


def _summary(run: RunRecord, generations: Sequence[GenerationRecord], evolved: Sequence[RankedEntry]) -> str:
    lines = [
        f"# Report: run {run.name} (id {run.id})",
        "",
        f"- status: **{run.status}**, seed {run.seed}, created {run.created_at}",
        f"- tasks: {', '.join(run.scope.tasks) or '-'}; seeds: {', '.join(map(str, run.scope.seeds)) or '-'}",
        f"- budget: `{run.scope.budget_key}`",
        f"- closed generations: {len(generations)}",
    ]
    if evolved:
        lines.append(f"- best genome: `{evolved[0].entry_key}` fitness {_fmt(evolved[0].fitness)}")
    return "\n".join(lines) + "\n"


def _figure(title: str, image: str, text: str) -> str:
    return f"## {title}\n\n![{title}]({image})\n\n{text}\n"


def _top_genomes(top: Sequence[RankedEntry]) -> str:
    if not top:
        return "## Top genomes\n\nNo evolved genome has been evaluated yet.\n"
    lines = ["## Top genomes", ""]
    for r in top:
        rule = r.genome.describe() if r.genome is not None else "(opaque optimizer)"
        lines.append(f"{r.rank}. `{r.entry_key}` fitness {_fmt(r.fitness)}: {rule}")
    lines.append("\nExport one with `evo export RUN --genome HASH -o FILE.py`.")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|")


def _label(r: RankedEntry) -> str:
    return entry_name(r)


def _fmt(x: float | None) -> str:
    return "-" if x is None or not _finite(x) else f"{x:.4f}"


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


def _nan_to(x: float | None, default: float = math.nan) -> float:
    return float(x) if _finite(x) else default
