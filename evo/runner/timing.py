"""Where a generation's wall time goes: training, waiting, store, GA (``generations.timing``).

A :class:`GenerationClock` is filled by the driver while one generation runs and stored with
it (:meth:`storage.Store.close_generation` ``timing=``); :func:`timing_table` prints the
stored breakdowns (``evo show RUN``, the report). With W workers (actors) and wall time T:

* ``wall_s`` (T): from the end of the previous generation's breakdown (its start, for the
  first generation a driver runs) to this one's, so nothing between generations falls
  through: closing the previous generation, progress output and the lease check count in
  the next one, and the walls of a run add up to its wall time;
* ``training_s``: the workers' own time, summed over results (each result's
  ``wall_time_s``: task setup, training and scoring);
* ``waiting_s``: time the driver spent blocked on the executor for the next result;
* ``store_s``: time in store calls (save, missing, record, read back, close);
* ``ga_s``: ``ask`` + ``tell``;
* ``driver_s = T - waiting_s - store_s - ga_s``: the rest, the driver's own work (planning
  and submitting requests, bookkeeping, progress output);
* ``utilisation = training_s / (W T)``: the workers' busy share; ``overhead_share = 1 -
  utilisation`` is everything else: Ray, driver, store, GA and workers idle (the tail of
  a generation whose last requests run while other workers have nothing left to do).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

TIMING_KEYS = (
    "wall_s",
    "training_s",
    "waiting_s",
    "store_s",
    "ga_s",
    "driver_s",
    "workers",
    "utilisation",
    "overhead_share",
)


@dataclass
class GenerationClock:
    """Seconds by part of one generation (see the module docstring)."""

    workers: int = 1
    started: float = field(default_factory=time.perf_counter)
    training_s: float = 0.0
    waiting_s: float = 0.0
    store_s: float = 0.0
    ga_s: float = 0.0
    results: int = 0
    ended: float | None = None
    """When :meth:`timing` was taken (the next generation's clock starts there)."""

    @contextmanager
    def store(self) -> Iterator[None]:
        """Count the enclosed block as store time."""
        t = time.perf_counter()
        try:
            yield
        finally:
            self.store_s += time.perf_counter() - t

    @contextmanager
    def ga(self) -> Iterator[None]:
        """Count the enclosed block as GA time."""
        t = time.perf_counter()
        try:
            yield
        finally:
            self.ga_s += time.perf_counter() - t

    def timed_results(self, outcomes: Iterator[Any]) -> Iterator[Any]:
        """Yield the executor's outcomes, counting the time blocked on each as waiting and
        each result's worker wall time as training."""
        iterator = iter(outcomes)
        while True:
            t = time.perf_counter()
            try:
                outcome = next(iterator)
            except StopIteration:
                self.waiting_s += time.perf_counter() - t
                return
            self.waiting_s += time.perf_counter() - t
            result = getattr(outcome, "result", None)
            if result is not None:
                self.training_s += float(result.wall_time_s)
                self.results += 1
            yield outcome

    def timing(self) -> dict[str, float]:
        """The stored breakdown (seconds, plus utilisation and overhead share in [0, 1])."""
        self.ended = time.perf_counter()
        wall = self.ended - self.started
        utilisation = self.training_s / (self.workers * wall) if wall > 0 else 0.0
        return {
            "wall_s": wall,
            "training_s": self.training_s,
            "waiting_s": self.waiting_s,
            "store_s": self.store_s,
            "ga_s": self.ga_s,
            "driver_s": max(0.0, wall - self.waiting_s - self.store_s - self.ga_s),
            "workers": float(self.workers),
            "utilisation": utilisation,
            "overhead_share": 1.0 - utilisation,
        }


def executor_width(executor: Any) -> int:
    """Workers an executor runs at once (its actors; 1 for the inline executor)."""
    actors = getattr(executor, "actors", None)
    return max(1, len(actors)) if actors is not None else 1


def timing_table(generations: Sequence[Any]) -> list[list[str]]:
    """Rows ``[generation, wall, training, waiting, store, GA, driver, utilisation, overhead]``
    of the generations that stored a breakdown (formatted text; "-" for a part a generation
    stored before it was measured)."""
    rows = []
    for g in generations:
        t = g.timing
        if not t:
            continue
        rows.append(
            [str(g.index)]
            + [
                f"{t[k]:.2f}" if k in t else "-"
                for k in ("wall_s", "training_s", "waiting_s", "store_s", "ga_s", "driver_s")
            ]
            + [
                f"{100 * t.get('utilisation', float('nan')):.0f}%",
                f"{100 * t.get('overhead_share', float('nan')):.0f}%",
            ]
        )
    return rows


TIMING_HEADER = [
    "gen",
    "wall s",
    "training s (sum)",
    "waiting s",
    "store s",
    "GA s",
    "driver s",
    "actor utilisation",
    "overhead",
]


def timing_rich_table(run_name: str, generations: Sequence[Any]) -> Any:
    """:func:`timing_table` as a rich table (``evo show RUN``)."""
    from rich.table import Table

    table = Table(title=f"run {run_name}: where each generation's wall time went")
    for column in TIMING_HEADER:
        table.add_column(column, justify="right")
    rows = timing_table(generations)
    for row in rows:
        table.add_row(*row)
    if not rows:
        table.caption = "no generation of this run stored a timing breakdown"
    return table


def timing_markdown(generations: Sequence[Any]) -> str:
    """:func:`timing_table` as a markdown section (the report); empty without timings."""
    rows = timing_table(generations)
    if not rows:
        return ""
    lines = ["## Wall time per generation", "", "| " + " | ".join(TIMING_HEADER) + " |",
             "|" + "---:|" * len(TIMING_HEADER)]  # fmt: skip
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
