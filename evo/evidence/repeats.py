"""Repeated independent runs: ``evo run CONFIG --repeats N`` and ``evo report RUN1 RUN2 ...``.

Repeat i of a job named ``NAME`` is the run ``NAME-r{i}`` with GA seed ``seed + i``
(i = 0..N-1); everything else (tasks, evaluation seeds, budget) is the job's, so the repeats
share the evaluation cache and differ only in the GA's random stream. Across runs the report
gives the spread of the final best fitness (training F of each run's best evolved genome,
:func:`evo.evidence.ranking.best`) and of that genome's held-out F (:mod:`evo.evidence.holdout_results`):
mean, sample standard deviation (n - 1; 0 for one run), min and max over the runs with a value.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from evo.evidence.holdout_results import holdout_fitness
from evo.evidence.ranking import best

if TYPE_CHECKING:
    from evo.config.schema import JobConfig
    from storage import Store


def repeat_configs(cfg: JobConfig, name: str, repeats: int) -> list[tuple[str, JobConfig]]:
    """``[(f"{name}-r{i}", cfg with seed + i)]`` for i < ``repeats`` (``[(name, cfg)]`` for 1)."""
    if repeats == 1:
        return [(name, cfg)]
    return [
        (f"{name}-r{i}", cfg.model_copy(update={"seed": cfg.seed + i, "name": f"{name}-r{i}"}))
        for i in range(repeats)
    ]


@dataclass(frozen=True)
class RunOutcome:
    """One run's final best genome: its training and held-out fitness (NaN if none)."""

    run: str
    seed: int
    genome: str
    training: float
    holdout: float


@dataclass(frozen=True)
class Spread:
    n: int
    mean: float
    std: float
    min: float
    max: float


def spread(values: list[float]) -> Spread:
    """Mean, sample std, min and max of the finite ``values`` (all NaN when there are none)."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return Spread(0, math.nan, math.nan, math.nan, math.nan)
    std = statistics.stdev(finite) if len(finite) > 1 else 0.0
    return Spread(len(finite), statistics.fmean(finite), std, min(finite), max(finite))


def run_outcome(store: Store, name: str) -> RunOutcome:
    run = store.get_run(name)
    evolved = [e for e in best(store, run.id, top_k=None) if not e.is_fixed and e.complete]
    if not evolved:
        return RunOutcome(run.name, run.seed, "-", math.nan, math.nan)
    top = evolved[0]
    held = holdout_fitness(store, run, [top.entry_key]).get(top.entry_key, math.nan)
    return RunOutcome(run.name, run.seed, top.entry_key, top.fitness, held)


def _fmt(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{x:.4f}"


def write_repeats_report(store: Store, names: list[str], out_dir: str | Path) -> Path:
    """Write ``report.md``, ``index.html`` and ``repeats.json`` of several runs; returns report.md."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    outcomes = [run_outcome(store, n) for n in names]
    rows = [
        f"| {o.run} | {o.seed} | `{o.genome[:10]}` | {_fmt(o.training)} | {_fmt(o.holdout)} |"
        for o in outcomes
    ]
    spreads = {
        "final best fitness (training)": spread([o.training for o in outcomes]),
        "held-out fitness of that genome": spread([o.holdout for o in outcomes]),
    }
    stats_rows = [
        f"| {what} | {s.n} | {_fmt(s.mean)} | {_fmt(s.std)} | {_fmt(s.min)} | {_fmt(s.max)} |"
        for what, s in spreads.items()
    ]
    text = "\n".join(
        [
            f"# Report: {len(outcomes)} runs",
            "",
            "## Spread across runs",
            "",
            "| quantity | runs | mean | std | min | max |",
            "|---|---:|---:|---:|---:|---:|",
            *stats_rows,
            "",
            "## Runs",
            "",
            "| run | GA seed | best genome | training fitness | held-out fitness |",
            "|---|---:|---|---:|---:|",
            *rows,
            "",
        ]
    )
    path = out / "report.md"
    path.write_text(text, encoding="utf-8")
    payload = {
        "runs": [vars(o) for o in outcomes],
        "spread": {k: vars(s) for k, s in spreads.items()},
    }
    (out / "repeats.json").write_text(json.dumps(payload, indent=2, allow_nan=True), encoding="utf-8")
    head = f'<head><meta charset="utf-8"><title>evo report: {len(outcomes)} runs</title></head>'
    page = f'<!DOCTYPE html>\n<html lang="en">{head}<body><pre>{escape(text)}</pre></body></html>\n'
    (out / "index.html").write_text(
        page,
        encoding="utf-8",
    )
    return path
