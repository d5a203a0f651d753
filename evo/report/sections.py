"""The report's sections built from the stored run: each draws its figure (when it has data)
into the report folder and returns a :class:`evo.report.model.Section`.

Numbers come from the evidence layer: the ranking (:func:`evo.evidence.ranking.best`), the
paired statistics and their wording (:mod:`evo.evidence.paired`, kept verbatim as a markdown
block), the timing table (:func:`evo.runner.timing.timing_markdown`). Fitness of an entry is the
mean over tasks of the mean over seeds of the stored evaluation fitness (the GA's fitness).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evo.evidence.paired import markdown as paired_markdown
from evo.evidence.paired import versus
from evo.evidence.ranked_entry import entry_name
from evo.report import plots
from evo.report.formula import genome_mathml
from evo.report.model import Code, Figure, Formula, Items, Markdown, Section, Table, Text, note
from evo.runner.timing import timing_markdown

if TYPE_CHECKING:
    from evo.evidence.ranked_entry import RankedEntry
    from optimizers.genome import Genome
    from storage import Store
    from storage.records import GenerationRecord, RunRecord

TOP_TABLE = 10
"""Rows of the ranking table (evolved and fixed, by rank)."""
TOP_GENOMES = 3
"""Evolved genomes listed under "Top genomes"."""


def fitness_section(
    out: Path, generations: Sequence[GenerationRecord], fixed: Sequence[RankedEntry]
) -> Section:
    title = "Fitness per generation"
    if not generations:
        return note(title, "No generation has been closed yet.")
    plots.plot_fitness(
        out / "fitness.png",
        [g.index for g in generations],
        [_nan_to(g.best_fitness) for g in generations],
        [_nan_to(g.mean_fitness) for g in generations],
        [_nan_to(g.std_fitness, 0.0) for g in generations],
        {entry_name(r): r.fitness for r in fixed if _finite(r.fitness)},
    )
    rows = tuple(
        (str(g.index), fmt(g.best_fitness), fmt(g.mean_fitness), fmt(g.std_fitness)) for g in generations
    )
    table = Table(("generation", "best", "mean", "std"), rows, ("r", "r", "r", "r"))
    return Section(title, [table], [Figure("fitness.png", title)])


def per_task_section(
    out: Path, run: RunRecord, ranking: Sequence[RankedEntry], shown: Sequence[RankedEntry]
) -> Section:
    """The per-task figure (``shown`` entries) and the ranking table's first rows."""
    title = "Per-task fitness"
    bars = {entry_name(r): r.per_task for r in shown if r.per_task}
    if not bars:
        return note(title, "No evaluation has been recorded yet.")
    tasks = list(run.scope.tasks) or sorted({t for v in bars.values() for t in v})
    plots.plot_per_task(out / "per_task.png", tasks, bars, fixed={entry_name(r) for r in shown if r.is_fixed})
    top = list(ranking[:TOP_TABLE])
    rows = tuple(
        (
            str(r.rank),
            entry_name(r),
            "yes" if r.is_fixed else "",
            fmt(r.fitness),
            *(fmt(r.per_task.get(t)) for t in tasks),
        )
        for r in top
    )
    table = Table(
        ("rank", "entry", "fixed", "fitness", *tasks),
        rows,
        ("r", "l", "l", "r", *("r" for _ in tasks)),
        tuple(i for i, r in enumerate(top) if r.is_fixed),
    )
    return Section(title, [table], [Figure("per_task.png", title)])


def paired_section(
    store: Store, run: RunRecord, evolved: Sequence[RankedEntry], fixed: Sequence[RankedEntry]
) -> Section:
    """The best genome against each fixed entry, worded by :mod:`evo.evidence.paired`."""
    title = "Best genome vs the fixed entries (paired by task and seed)"
    if not evolved:
        return Section(title, [Markdown(paired_markdown([]))])
    baselines = [(r.entry_key, entry_name(r)) for r in fixed if r.entry_key != evolved[0].entry_key]
    comparisons = versus(
        store, run.scope, (evolved[0].entry_key, entry_name(evolved[0])), baselines, tuned=fixed
    )
    text = Text("Differences are best minus baseline, per task over the paired seeds.")
    return Section(title, [text, Markdown(paired_markdown(comparisons))])


def term_weights_section(out: Path, trace: Sequence[tuple[int, float, Genome]]) -> Section:
    title = "Best genome's term weights"
    if not trace:
        return note(title, "No evaluated generation yet.")
    canonical = [(gen, fit, g.canonical()) for gen, fit, g in trace]
    plots.plot_term_weights(
        out / "term_weights.png", [c[0] for c in canonical], [c[2].term_weights() for c in canonical]
    )
    rows = tuple((str(gen), f"{fit:.4f}", f"`{g.hash[:10]}`", g.describe()) for gen, fit, g in canonical)
    table = Table(
        ("generation", "fitness", "hash", "best genome (canonical form)"), rows, ("r", "r", "l", "l")
    )
    return Section(title, [table], [Figure("term_weights.png", title)])


def diversity_section(out: Path, diversity: Sequence[tuple[int, int, int]]) -> Section:
    title = "Population diversity"
    if not diversity:
        return note(title, "No generation has been saved yet.")
    gens, distinct, sizes = zip(*diversity, strict=True)
    plots.plot_diversity(out / "diversity.png", gens, distinct, sizes)
    text = Text("Distinct canonical genome hashes per generation; equivalent genomes are evaluated once.")
    return Section(title, [text], [Figure("diversity.png", title)])


def top_genomes_section(run: RunRecord, top: Sequence[RankedEntry]) -> Section:
    """The best evolved genomes, the best one's rule as a formula, and how to export it."""
    title = "Top genomes"
    if not top:
        return note(title, "No evolved genome has been evaluated yet.")
    items = tuple(
        f"`{r.entry_key}` fitness {fmt(r.fitness)}: "
        + (r.genome.describe() if r.genome is not None else "(opaque optimizer)")
        for r in top
    )
    parts: list[Any] = [Items(items, numbered=True)]
    best = top[0]
    if best.genome is not None:
        parts += [
            Text("The best genome's update rule:"),
            Formula(genome_mathml(best.genome), best.genome.canonical().describe()),
            Text("Export it as a standalone `torch.optim.Optimizer` file:"),
            Code(f"evo export {run.name} --genome {best.entry_key} -o evolved_optimizer.py"),
        ]
    return Section(title, parts)


def timing_section(generations: Sequence[GenerationRecord]) -> Section:
    """Where each generation's wall time went (:func:`evo.runner.timing.timing_markdown`)."""
    title = "Wall time per generation"
    text = timing_markdown(generations)
    if not text:
        return note(title, "No generation of this run stored a timing breakdown.")
    body = "\n".join(line for line in text.splitlines() if not line.startswith("## "))
    return Section(title, [Markdown(body.strip() + "\n")])


def config_section(run: RunRecord) -> Section:
    """The run's stored config (JSON)."""
    text = json.dumps(run.config, indent=2, sort_keys=True, default=str)
    return Section("Config", [Code(text, "json")])


def summary_items(
    run: RunRecord, generations: Sequence[GenerationRecord], evolved: Sequence[RankedEntry]
) -> list[str]:
    """The bullet items under the report's title."""
    items = [
        f"status: **{run.status}**, seed {run.seed}, created {run.created_at}",
        f"tasks: {', '.join(run.scope.tasks) or '-'}; seeds: {', '.join(map(str, run.scope.seeds)) or '-'}",
        f"budget: `{run.scope.budget_key}`",
        f"closed generations: {len(generations)}",
    ]
    if evolved:
        items.append(f"best genome: `{evolved[0].entry_key}` fitness {fmt(evolved[0].fitness)}")
    return items


def fmt(x: float | None) -> str:
    """Four decimals, "-" for a missing or non-finite number."""
    return "-" if x is None or not _finite(x) else f"{x:.4f}"


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


def _nan_to(x: float | None, default: float = math.nan) -> float:
    return float(x) if _finite(x) else default
