"""What the run loop tells the outside world while it runs (progress bars, tests).

The driver calls these hooks in order: ``run_started``, then per generation
``generation_started``, ``evaluation_recorded`` once per stored row, ``generation_closed``;
finally ``run_finished``. The base class ignores everything; subclasses override what they
need. A hook that raises stops the run at that point (tests use this to crash a run).
"""

from __future__ import annotations

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
