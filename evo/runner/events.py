"""What the run loop tells the outside world while it runs (progress bars, tests).

The driver calls these hooks in order: ``run_started``, then per generation
``generation_started``, ``evaluation_recorded`` once per stored row, ``generation_closed``;
finally ``run_finished``. The base class ignores everything; subclasses override what they
need. A hook that raises stops the run at that point (tests use this to crash a run).
:class:`ObserverGroup` passes each hook to several observers (progress bars and trackers).
"""

from __future__ import annotations

from collections.abc import Sequence

from evo.search.aggregation import PopulationStats
from storage.records import EvaluationIn


class RunObserver:
    """No-op observer; override the hooks you need."""

    def run_started(self, run_name: str, first_generation: int, generations: int) -> None:
        """The loop starts (or resumes) at ``first_generation`` of ``generations``."""

    def generation_started(self, generation: int, total: int, done: int) -> None:
        """``total`` evaluations belong to this generation, ``done`` of them already stored."""

    def evaluation_recorded(self, row: EvaluationIn) -> None:
        """One (entry, task, seed) result was stored."""

    def generation_closed(self, generation: int, stats: PopulationStats, best_so_far: float) -> None:
        """The generation's statistics and the GA state after ``tell`` were stored."""

    def run_finished(self, run_name: str) -> None:
        """Every generation is closed; the run is marked finished."""


class ObserverGroup(RunObserver):
    """Several observers as one: each hook is called on every observer, in the given order."""

    def __init__(self, observers: Sequence[RunObserver]) -> None:
        self.observers = list(observers)

    def run_started(self, run_name: str, first_generation: int, generations: int) -> None:
        for observer in self.observers:
            observer.run_started(run_name, first_generation, generations)

    def generation_started(self, generation: int, total: int, done: int) -> None:
        for observer in self.observers:
            observer.generation_started(generation, total, done)

    def evaluation_recorded(self, row: EvaluationIn) -> None:
        for observer in self.observers:
            observer.evaluation_recorded(row)

    def generation_closed(self, generation: int, stats: PopulationStats, best_so_far: float) -> None:
        for observer in self.observers:
            observer.generation_closed(generation, stats, best_so_far)

    def run_finished(self, run_name: str) -> None:
        for observer in self.observers:
            observer.run_finished(run_name)
