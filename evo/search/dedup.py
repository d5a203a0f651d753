"""Evaluate one genome per functional fingerprint (``evaluation.fingerprint: true``).

The driver shows the index every genome entry it is about to evaluate, in a fixed order
(generation 0: the fixed entries, then each generation's members by slot, then their lr
variants). The first key met with a fingerprint (:func:`optimizers.fingerprint.fingerprint`)
is its *representative*; a later key with the same fingerprint is a *duplicate*: it is not
trained, its rows are copies of the representative's (same fitness, status and metrics,
``metrics["reused_from"]`` = the representative's key, ``worker = "fingerprint"``, wall time
0), recorded under its own key. So the store, the ranking and the GA see a duplicate like any
entry, and a later run that reads the cache sees the copies marked.

Resume stays exact: the order is a function of the stored populations and the config, so a
resumed driver replays it (:meth:`FingerprintIndex.replay`) and picks the same
representatives; copies already stored are cache hits like any evaluation.

Under a task funnel (:mod:`evo.search.funnel`) a representative may be needed at a rung it never
reached (it came from an earlier generation, or stopped early): the index keeps each
representative's genome (:meth:`FingerprintIndex.specs`), so it is trained there under its
own key and the duplicates copy it (:meth:`FingerprintIndex.sources`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from optimizers.fingerprint import fingerprint
from optimizers.genome import Genome
from storage.records import EvaluationIn
from workers.requests import EntrySpec

if TYPE_CHECKING:
    from storage import Store

REUSED_WORKER = "fingerprint"


class FingerprintIndex:
    """fingerprint -> representative key, in the order the run met them."""

    def __init__(self) -> None:
        self.representative: dict[str, str] = {}
        self.of_key: dict[str, str] = {}
        """key -> its representative (itself for a representative)."""
        self.genome_of: dict[str, Genome] = {}
        """representative key -> the genome it was met with (the driver shows canonical genomes)."""

    def observe(self, entries: Iterable[tuple[str, Genome | None]]) -> None:
        """Meet (key, genome) pairs in order; opaque entries (genome None) are skipped."""
        for key, genome in entries:
            if genome is None or key in self.of_key:
                continue
            self.of_key[key] = self.representative.setdefault(fingerprint(genome), key)
            if self.of_key[key] == key:
                self.genome_of[key] = genome

    def specs(self) -> dict[str, EntrySpec]:
        """Work-item specs of every representative (to train one a rung needs)."""
        return {k: EntrySpec(key=k, genome=g) for k, g in self.genome_of.items()}

    def sources(self, to_copy: Sequence[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
        """The representatives' (key, task, seed) the copies of ``to_copy`` read, in order."""
        dups = self.duplicates()
        return list(dict.fromkeys((dups[k], t, s) for k, t, s in to_copy))

    def duplicates(self) -> dict[str, str]:
        """``{duplicate key: representative key}``."""
        return {k: r for k, r in self.of_key.items() if k != r}

    def split(
        self, missing: Sequence[tuple[str, str, int]]
    ) -> tuple[list[tuple[str, str, int]], list[tuple[str, str, int]]]:
        """(to train, to copy): ``missing`` without and with the duplicates' triples."""
        dups = self.duplicates()
        return [m for m in missing if m[0] not in dups], [m for m in missing if m[0] in dups]


def copy_rows(
    store: Store, index: FingerprintIndex, to_copy: Sequence[tuple[str, str, int]], budget_key: str
) -> int:
    """Record each duplicate's row as a copy of its representative's; returns rows stored.

    A triple whose representative row is not stored (yet) is left missing.
    """
    if not to_copy:
        return 0
    dups = index.duplicates()
    reps = list(dict.fromkeys(dups[k] for k, _, _ in to_copy))
    tasks = list(dict.fromkeys(t for _, t, _ in to_copy))
    rows = {(r.entry_key, r.task, r.seed): r for r in store.evaluations(reps, budget_key, tasks=tasks)}
    copies = []
    for key, task, seed in to_copy:
        source = rows.get((dups[key], task, seed))
        if source is None:
            continue
        copies.append(
            EvaluationIn(
                entry_key=key, task=task, seed=seed, budget_key=budget_key,
                metrics={**source.metrics, "reused_from": source.entry_key},
                fitness=source.fitness, status=source.status, error=source.error,
                worker=REUSED_WORKER, device=source.device, wall_time_s=0.0,
            )
        )
    return store.record_evaluations(copies)
