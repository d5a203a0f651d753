"""The best genome against fixed entries, paired by (task, seed): ``evo best --vs``, ``evo
compare --run``, the report.

For two entries of a run, the stored seed fitness of each (task, seed) of the run's scope
pairs up (same initial weights, same batches); :func:`evo.evidence.stats.paired_comparison` gives per
task the mean difference (best minus baseline), its 95% paired t-interval and tests (from
:data:`evo.evidence.stats.MIN_SEEDS` seeds on), W/T/L, and :func:`evo.evidence.stats.summarize`
the line "better on k of n tasks (significantly on j)"; each task's effect is worded by
:meth:`evo.evidence.stats.PairedStats.sentence`. This is done once on the training tasks (the
run's budget key) and once on the held-out tasks (their test-split key,
:mod:`evo.runner.holdout_work`) where the run has them. Failed or NaN seed values are left out of
the pairs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from evo.evidence.stats import METHOD, PairedStats, paired_comparison, summarize

if TYPE_CHECKING:
    from evo.evidence.ranked_entry import RankedEntry
    from storage import Store
    from storage.records import RunScope

Values = dict[tuple[str, int], float]


@dataclass(frozen=True)
class Versus:
    """One entry against one baseline, on the training and on the held-out tasks."""

    entry: str
    baseline: str
    training: dict[str, PairedStats]
    holdout: dict[str, PairedStats] | None
    """None when the run has no held-out tasks."""

    def line(self) -> str:
        """``A vs B: training: better on k of n tasks (significantly on j); held-out: ...``."""
        text = f"{self.entry} vs {self.baseline}: training: {summarize(self.training).text()}"
        if self.holdout is not None:
            text += f"; held-out: {summarize(self.holdout).text()}"
        return text

    def lines(self) -> list[str]:
        """:meth:`line`, then one indented line per task: ``  training digits: <sentence>``."""
        return [self.line(), *(f"  {split} {s.task}: {s.sentence()}" for split, s in self.rows())]

    def rows(self) -> list[tuple[str, PairedStats]]:
        """``(split, stats)`` per task, training tasks first (split: "training" or "held-out")."""
        held = list((self.holdout or {}).values())
        return [("training", s) for s in self.training.values()] + [("held-out", s) for s in held]

    def as_json(self) -> dict:
        return {
            "entry": self.entry, "baseline": self.baseline, "summary": self.line(),
            "training": {t: _as_json(s) for t, s in self.training.items()},
            "holdout": None if self.holdout is None else {t: _as_json(s) for t, s in self.holdout.items()},
        }  # fmt: skip


def _as_json(stats: PairedStats) -> dict:
    """The stats' fields (NaN as None: JSON has no NaN), its sentence and whether it was tested."""
    fields = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in vars(stats).items()}
    verdict = {"tested": stats.testable, "significant": stats.significant, "sentence": stats.sentence()}
    return {**fields, **verdict}


def seed_values(
    store: Store, keys: Sequence[str], budget_key: str, tasks: Sequence[str], seeds: Sequence[int]
) -> dict[str, Values]:
    """``{key: {(task, seed): fitness}}`` of the stored finite seed fitness in that scope."""
    values: dict[str, Values] = {k: {} for k in keys}
    if not tasks:
        return values
    for row in store.seed_results(list(keys), budget_key, list(tasks), list(seeds)):
        if math.isfinite(row.fitness):
            values[row.entry_key][(row.task, row.seed)] = row.fitness
    return values


def versus(
    store: Store,
    scope: RunScope,
    entry: tuple[str, str],
    baselines: Sequence[tuple[str, str]],
    tuned: Sequence[RankedEntry] = (),
) -> list[Versus]:
    """``entry`` (key, name) against each of ``baselines`` (key, name) within a run's scope.

    Ranked fixed entries in ``tuned`` with ``lr_tuned`` set are compared on the training tasks
    with their lr-tuned seed values (:func:`evo.evidence.tuned.entry_seed_values`), as the tables show
    them; held-out tasks use the entry's own lr.
    """
    keys = [entry[0], *(k for k, _ in baselines)]
    training = seed_values(store, keys, scope.budget_key, scope.tasks, scope.seeds)
    lr_tuned = [r for r in tuned if r.lr_tuned]
    if lr_tuned:
        from evo.evidence.tuned import entry_seed_values

        training.update(entry_seed_values(store, scope.budget_key, scope.tasks, scope.seeds, lr_tuned))
    holdout = None
    if scope.holdout_tasks and scope.holdout_budget_key:
        holdout = seed_values(store, keys, scope.holdout_budget_key, scope.holdout_tasks, scope.seeds)
    return [
        Versus(
            entry=entry[1],
            baseline=name,
            training=paired_comparison(training[entry[0]], training[key]),
            holdout=None if holdout is None else paired_comparison(holdout[entry[0]], holdout[key]),
        )
        for key, name in baselines
    ]


def markdown(comparisons: Sequence[Versus]) -> str:
    """The method line, the summary lines, then one table row per (baseline, split, task) whose
    effect cell is :meth:`PairedStats.sentence` (the wording of every command)."""
    if not comparisons:
        return "No evolved genome and fixed entry to compare yet.\n"
    lines = [f"- {v.line()}" for v in comparisons]
    head = "| vs | split | task | mean difference [95% CI], tests |\n|---|---|---|---|"
    cells = [(v.baseline, split, s) for v in comparisons for split, s in v.rows()]
    rows = [f"| {name} | {split} | {s.task} | {s.sentence()} |" for name, split, s in cells]
    return "\n".join([METHOD, "", *lines, "", head, *rows]) + "\n"
