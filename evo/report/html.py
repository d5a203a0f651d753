"""``index.html``: the report as one self-contained page (no network: images are data URIs).

Contents, top to bottom: the run's summary and config (JSON), fitness per generation
(figure and table), training vs held-out fitness of each generation's best genome (when the
run has held-out tasks), the per-task table of the best evolved genomes and every fixed entry
(with paired statistics of the best genome against each fixed entry, on training and held-out
tasks: :mod:`evo.evidence.paired`), the landscape paths, the loss curves, the best genome's
update rule as MathML and the command that exports it. Inline CSS only; no script, no
font or stylesheet from elsewhere.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evo.evidence.ranked_entry import entry_name
from evo.output_paths import writing
from evo.report.formula import genome_mathml
from evo.report.pictures import Section, shown_entries

if TYPE_CHECKING:
    from evo.evidence.ranked_entry import RankedEntry
    from storage import Store
    from storage.records import GenerationRecord, RunRecord

TOP_ROWS = 10
STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 1.5em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: .85em; margin: .6em 0; }
th, td { border: 1px solid #ccc; padding: .25em .5em; text-align: right; }
th { background: #f0f0f0; } td.name, th.name { text-align: left; }
tr.fixed td { font-style: italic; color: #444; }
img { max-width: 100%; display: block; margin: .6em 0; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; font-size: .8em; }
code { background: #f0f0f0; padding: 0 .2em; }
.rule { background: #fafaf5; border: 1px solid #ddd; padding: .6em 1em; }
.rule-words { font-size: .9em; color: #333; }
.note { color: #666; font-size: .9em; }
"""


def write_html(
    store: Store,
    run: RunRecord,
    out_dir: Path,
    ranking: Sequence[RankedEntry],
    generations: Sequence[GenerationRecord],
    pictures: Sequence[Section],
) -> Path:
    """Write ``out_dir/index.html`` and return its path (``fitness.png`` is embedded when drawn)."""
    out = Path(out_dir)
    body = [
        f"<h1>Run {escape(run.name)} (id {run.id})</h1>",
        _summary(run, generations, ranking),
        _fitness(out, generations),
        _holdout_figure(out),
        _per_task(out, store, run, ranking),
        *(_picture_section(s) for s in pictures),
        _rule(run, ranking),
        "<h2>Config</h2>",
        f"<pre>{escape(json.dumps(run.config, indent=2, sort_keys=True, default=str), quote=False)}</pre>",
    ]
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>evo report: {escape(run.name)}</title><style>{STYLE}</style></head>"
        f"<body>\n{chr(10).join(body)}\n</body></html>\n"
    )
    path = out / "index.html"
    with writing(path):
        path.write_text(page, encoding="utf-8")
    return path


def data_uri(path: Path) -> str:
    """A PNG file as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _img(path: Path, alt: str) -> str:
    return f'<img src="{data_uri(path)}" alt="{escape(alt)}">'


def _fmt(x: float | None) -> str:
    return "-" if not isinstance(x, int | float) or not math.isfinite(x) else f"{x:.4f}"


def _summary(run: RunRecord, generations: Sequence[GenerationRecord], ranking: Sequence[RankedEntry]) -> str:
    best, _ = shown_entries(list(ranking))
    items = [
        f"status <b>{escape(str(run.status))}</b>, seed {run.seed}, created {escape(str(run.created_at))}",
        f"tasks: {escape(', '.join(run.scope.tasks) or '-')}; "
        f"seeds: {escape(', '.join(map(str, run.scope.seeds)))}",
        f"budget <code>{escape(run.scope.budget_key)}</code>; closed generations: {len(generations)}",
    ]
    if best is not None:
        items.append(f"best genome <code>{escape(best.entry_key)}</code>, fitness {_fmt(best.fitness)}")
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def _fitness(out: Path, generations: Sequence[GenerationRecord]) -> str:
    head = "<h2>Fitness per generation</h2>"
    if not generations:
        return head + '<p class="note">No generation has been closed yet.</p>'
    image = out / "fitness.png"
    figure = _img(image, "fitness per generation") if image.exists() else ""
    rows = "".join(
        f"<tr><td>{g.index}</td><td>{_fmt(g.best_fitness)}</td><td>{_fmt(g.mean_fitness)}</td>"
        f"<td>{_fmt(g.std_fitness)}</td></tr>"
        for g in generations
    )
    return (
        head
        + figure
        + f"<table><tr><th>generation</th><th>best</th><th>mean</th><th>std</th></tr>{rows}</table>"
    )


def _holdout_figure(out: Path) -> str:
    """The training-vs-held-out figure, when the run has held-out tasks
    (:mod:`evo.evidence.holdout_results`)."""
    image = out / "holdout.png"
    if not image.exists():
        return ""
    return "<h2>Training vs held-out fitness</h2>" + _img(
        image, "training vs held-out fitness per generation"
    )


def _per_task(out: Path, store: Store, run: RunRecord, ranking: Sequence[RankedEntry]) -> str:
    tasks = list(run.scope.tasks)
    evolved = [r for r in ranking if not r.is_fixed][:TOP_ROWS]
    shown = [r for r in ranking if r in evolved or r.is_fixed]
    head = (
        "<tr><th>rank</th><th class='name'>entry</th><th>fitness</th>"
        + "".join(f"<th>{escape(t)}</th>" for t in tasks)
        + "</tr>"
    )
    rows = "".join(
        f"<tr class='{'fixed' if r.is_fixed else ''}'><td>{r.rank}</td>"
        f"<td class='name'>{escape(entry_name(r))}{' (fixed)' if r.is_fixed else ''}</td>"
        f"<td>{_fmt(r.fitness)}</td>"
        + "".join(f"<td>{_fmt(r.per_task.get(t))}</td>" for t in tasks)
        + "</tr>"
        for r in shown
    )
    text = "<h2>Per-task fitness</h2>"
    if not shown:
        return text + '<p class="note">No evaluation has been recorded yet.</p>'
    image = out / "per_task.png"
    figure = _img(image, "per-task fitness") if image.exists() else ""
    return text + figure + f"<table>{head}{rows}</table>" + _paired(store, run, list(ranking))


def _paired(store: Store, run: RunRecord, ranking: list[RankedEntry]) -> str:
    """Paired statistics (:mod:`evo.evidence.paired`) of the best genome against each fixed entry, on the
    training and the held-out tasks."""
    from evo.evidence.paired import versus

    best, fixed = shown_entries(ranking)
    baselines = [
        (r.entry_key, entry_name(r)) for r in fixed if best is not None and r.entry_key != best.entry_key
    ]
    if best is None or not baselines:
        return ""
    parts = ["<h3>Paired statistics: best genome minus each fixed entry, per task (seeds paired)</h3>"]
    for v in versus(store, run.scope, (best.entry_key, entry_name(best)), baselines, tuned=fixed):
        parts.append(f"<h4>vs {escape(v.baseline)}</h4><p>{escape(v.line())}</p>" + _paired_table(v.rows()))
    return "".join(parts)


def _paired_table(rows: Sequence[tuple[str, Any]]) -> str:
    fields = ("mean_diff", "ci_low", "ci_high", "wins", "ties", "losses", "sign_p")
    body = "".join(
        f"<tr><td class='name'>{escape(split)}</td><td class='name'>{escape(s.task)}</td>"
        + "".join(f"<td>{_cell(getattr(s, f))}</td>" for f in fields)
        + "</tr>"
        for split, s in rows
    )
    head = "<tr><th class='name'>split</th><th class='name'>task</th>" + "".join(
        f"<th>{f}</th>" for f in fields
    )
    return f"<table>{head}</tr>{body}</table>"


def _cell(x: Any) -> str:
    if isinstance(x, bool) or x is None:
        return "-"
    if isinstance(x, int):
        return str(x)
    return _fmt(x)


def _picture_section(section: Section) -> str:
    figures = "".join(_img(path, caption) for caption, path in section.images)
    return f"<h2>{escape(section.title)}</h2>{figures}<p class='note'>{_inline_code(section.text)}</p>"


def _inline_code(markdown: str) -> str:
    """Escape ``markdown`` and turn its `code` spans into <code> elements."""
    pieces = escape(markdown).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces))


def _rule(run: RunRecord, ranking: Sequence[RankedEntry]) -> str:
    best, _ = shown_entries(list(ranking))
    head = "<h2>The best genome's update rule</h2>"
    if best is None or best.genome is None:
        return head + '<p class="note">No evolved genome has been evaluated yet.</p>'
    command = f"evo export {run.name} --genome {best.entry_key} -o evolved_optimizer.py"
    return (
        head
        + f"<div class='rule'>{genome_mathml(best.genome)}</div>"
        + f"<p>As text: <code>{escape(best.genome.canonical().describe())}</code></p>"
        + "<p>Export it as a standalone <code>torch.optim.Optimizer</code> file:</p>"
        + f"<pre>{escape(command)}</pre>"
    )
