"""Live progress of a run: generation, evaluations done / total, best so far, ETA.

On a terminal this is a rich progress display (two bars: generations and the current
generation's evaluations, each with its ETA). Elsewhere (logs, CI, pipes) bars would only
add control characters, so it prints one plain line per closed generation instead.
"""

from __future__ import annotations

import math
import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from evo.runner.events import RunObserver
from evo.search.aggregation import PopulationStats
from storage.records import EvaluationIn


def _fmt(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.4f}"


class RichProgress(RunObserver):
    """Progress display on ``console`` (stderr by default); use as a context manager.

    Args:
        console: where to draw; ``Console(stderr=True)`` when None.
        live: draw bars; default: only when the console is a terminal.
    """

    def __init__(self, console: Console | None = None, live: bool | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.live = self.console.is_terminal if live is None else live
        self._progress: Progress | None = None
        self._gen_task: TaskID | None = None
        self._eval_task: TaskID | None = None
        self._generations = 0
        self._best_so_far = math.nan
        self._generation_started_at = time.monotonic()

    # -- context manager -----------------------------------------------------------------
    def __enter__(self) -> RichProgress:
        if self.live:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[best]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
            self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    # -- observer hooks ------------------------------------------------------------------
    def run_started(self, run_name: str, first_generation: int, generations: int) -> None:
        self._generations = generations
        verb = "resuming" if first_generation else "starting"
        self.console.print(
            f"{verb} run {run_name!r}: {first_generation}/{generations} generations done", highlight=False
        )
        if self._progress is not None:
            self._gen_task = self._progress.add_task(
                "generations", total=generations, completed=first_generation, best="best -"
            )
            self._eval_task = self._progress.add_task("evaluations", total=1, completed=0, best="")

    def generation_started(self, generation: int, total: int, done: int) -> None:
        self._generation_started_at = time.monotonic()
        if self._progress is not None and self._eval_task is not None:
            self._progress.reset(
                self._eval_task,
                total=max(total, 1),
                completed=done,
                description=f"generation {generation + 1}/{self._generations}",
            )

    def evaluation_recorded(self, row: EvaluationIn) -> None:
        if self._progress is not None and self._eval_task is not None:
            self._progress.advance(self._eval_task, 1)

    def generation_closed(self, generation: int, stats: PopulationStats, best_so_far: float) -> None:
        self._best_so_far = best_so_far
        if self._progress is not None and self._gen_task is not None:
            self._progress.update(
                self._gen_task, completed=generation + 1, best=f"best {_fmt(best_so_far)}"
            )
            return
        seconds = time.monotonic() - self._generation_started_at
        self.console.print(
            f"generation {generation + 1}/{self._generations}: best {_fmt(stats.best)} "
            f"mean {_fmt(stats.mean)} std {_fmt(stats.std)} | best so far {_fmt(best_so_far)} "
            f"({seconds:.1f} s)",
            highlight=False,
        )

    def run_finished(self, run_name: str) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        best = _fmt(self._best_so_far)
        self.console.print(f"run {run_name!r} finished; best fitness {best}", highlight=False)
