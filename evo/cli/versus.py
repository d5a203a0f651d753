"""``evo best --vs`` / ``--holdout`` and ``evo compare --run``: resolve the names given on
the command line, then compare through :mod:`evo.evidence.paired` (the paired statistics)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from evo.errors import UsageError
from evo.evidence.holdout_results import best_holdout, require_holdout
from evo.evidence.paired import Versus, versus
from evo.evidence.ranked_entry import RankedEntry, entry_name
from evo.evidence.ranking import best

if TYPE_CHECKING:
    from storage import Store
    from storage.records import RunRecord

ALL = "all"


def best_versus(store: Store, run: RunRecord, names: Sequence[str]) -> list[Versus]:
    """The run's best evolved genome against the named fixed entries (``all``: every one).

    Raises:
        UsageError: a name is not a fixed entry of the run, or the run has no evaluated genome.
    """
    ranking = best(store, run.id, top_k=None)
    fixed = {entry_name(r): r for r in ranking if r.is_fixed}
    fixed.update({r.label: r for r in ranking if r.is_fixed and r.label})  # "adamw" for "adamw (tuned)"
    evolved = [r for r in ranking if not r.is_fixed]
    if not evolved:
        from evo.evidence.export_choice import no_evolved_genome

        raise UsageError(no_evolved_genome(run))
    wanted = [entry_name(r) for r in ranking if r.is_fixed] if ALL in names else list(dict.fromkeys(names))
    unknown = [n for n in wanted if n not in fixed]
    if unknown:
        known = ", ".join(fixed) or "none"
        raise UsageError(
            f"--vs {unknown[0]!r} is not a fixed entry of run {run.name!r}; its fixed entries: {known}"
        )
    top = evolved[0]
    baselines = [(fixed[n].entry_key, n) for n in wanted if fixed[n].entry_key != top.entry_key]
    return versus(store, run.scope, (top.entry_key, entry_name(top)), baselines, tuned=list(fixed.values()))


def holdout_entries(store: Store, run: RunRecord, top: int) -> tuple[list[RankedEntry], list[str]]:
    """The ``top`` best evolved entries by held-out fitness plus every fixed entry, and the tasks."""
    tasks, _ = require_holdout(run)
    return best_holdout(store, run, top, fixed_too=True), tasks
