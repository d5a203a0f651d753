"""The run observer that feeds the tracking backends, and never stops the run.

Per driver (a start or a resume): ``run_started`` opens each backend, logs the config and
catches up every generation the store closed that the backend lacks (a SIGKILL can land
between closing a generation and logging it); ``generation_closed`` logs the generations
closed since (normally just that one); ``run_finished`` logs the winner and the exported
optimizer file and closes the backends. Every metric is logged at step = generation index,
and only above the last step the backend already holds for it, so a resumed run appends
with no duplicate step.

A backend that raises (disk full, server gone, ...) prints one warning line on stderr and
is dropped for the rest of this driver; the run itself goes on, its results are in the
store, and the next resume catches the backend up.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

from evo.runner.events import RunObserver
from evo.search.aggregation import PopulationStats
from evo.tracking.backend import TrackingBackend
from evo.tracking.points import GenerationPoint, GenerationPoints
from evo.tracking.run_summary import (
    RunIdentity,
    Winner,
    config_params,
    config_text,
    export_winner,
    find_winner,
)
from optimizers.errors import one_line

if TYPE_CHECKING:
    from evo.config.schema import JobConfig
    from storage import Store
    from storage.records import RunRecord

T = TypeVar("T")


def warn(message: str) -> None:
    """One warning line on stderr (above the progress bars, which redirect stderr)."""
    print(f"warning: tracking: {message}", file=sys.stderr, flush=True)


class TrackingObserver(RunObserver):
    """Logs a run to ``backends``; see the module docstring. Close it (or use ``with``)."""

    def __init__(
        self, store: Store, run: RunRecord, cfg: JobConfig, backends: Sequence[TrackingBackend]
    ) -> None:
        self.store = store
        self.run = run
        self.cfg = cfg
        self.backends = list(backends)
        self.logged: dict[str, dict[str, int]] = {}
        self.points = GenerationPoints(store, run.id, cfg)

    def __enter__(self) -> TrackingObserver:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- observer hooks ------------------------------------------------------------------
    def run_started(self, run_name: str, first_generation: int, generations: int) -> None:
        identity = RunIdentity.of(self.run)
        for backend in list(self.backends):
            logged = self._guard(backend, "opening", lambda b=backend: b.open(identity))
            if logged is not None:
                self.logged[backend.name] = dict(logged)
        params, text = config_params(self.cfg), config_text(self.cfg)
        for backend in list(self.backends):
            self._guard(backend, "logging the config", lambda b=backend: b.log_run_start(params, text))
        self._log_new_generations()

    def generation_closed(self, generation: int, stats: PopulationStats, best_so_far: float) -> None:
        self._log_new_generations()

    def run_finished(self, run_name: str) -> None:
        if not self.backends:
            return
        self._log_new_generations()
        with tempfile.TemporaryDirectory(prefix="evo-tracking-") as folder:
            winner, exported = self._winner(Path(folder))
            step = self.points.next_generation - 1
            for backend in list(self.backends):
                if winner is not None:
                    self._guard(
                        backend, "logging the winner", lambda b=backend: b.log_winner(winner, step, exported)
                    )
            for backend in list(self.backends):
                self._guard(backend, "closing", lambda b=backend: b.close(finished=True))
        self.backends = []

    def close(self) -> None:
        """Close the backends still open (the run was interrupted or failed); idempotent."""
        for backend in list(self.backends):
            self._guard(backend, "closing", lambda b=backend: b.close(finished=False))
        self.backends = []

    # -- helpers ---------------------------------------------------------------------------
    def _log_new_generations(self) -> None:
        if not self.backends:
            return
        try:
            points = self.points.new_points()
        except Exception as exc:  # a store read failing here must not stop the run
            warn(f"reading the closed generations failed ({one_line(str(exc))}); will retry next generation")
            return
        for backend in list(self.backends):
            self._guard(backend, "logging generations", lambda b=backend: self._log_points(b, points))

    def _log_points(self, backend: TrackingBackend, points: list[GenerationPoint]) -> None:
        logged = self.logged.setdefault(backend.name, {})
        for point in points:
            fresh = {k: v for k, v in point.metrics.items() if point.step > logged.get(k, -1)}
            if fresh:
                backend.log_metrics(point.step, point.walltime, fresh)
                logged.update(dict.fromkeys(fresh, point.step))
        backend.end_generation()

    def _winner(self, folder: Path) -> tuple[Winner | None, Path | None]:
        try:
            winner = find_winner(self.store, self.run)
        except Exception as exc:
            warn(f"finding the run's winner failed ({one_line(str(exc))}); it is not logged")
            return None, None
        if winner is None:
            return None, None
        try:
            return winner, export_winner(self.store, self.run, self.cfg, winner, folder)
        except Exception as exc:
            warn(f"exporting the winner failed ({one_line(str(exc))}); its file is not logged")
            return winner, None

    def _guard(self, backend: TrackingBackend, action: str, call: Callable[[], T]) -> T | None:
        """``call()``; on an exception, warn once and drop ``backend`` for this driver."""
        try:
            return call()
        except Exception as exc:
            warn(
                f"{backend.name} failed while {action} ({type(exc).__name__}: {one_line(str(exc))}); "
                f"it logs nothing more in this session, the run goes on (a resume catches it up)"
            )
            self.backends = [b for b in self.backends if b is not backend]
            with contextlib.suppress(Exception):  # already broken: nothing more to report
                backend.close(finished=False)
            return None
