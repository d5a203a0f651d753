"""Several run observers as one: the driver notifies one, which passes each event on in order."""

from __future__ import annotations

from collections.abc import Sequence

from evo.errors import UsageError
from evo.run.events import RunObserver
from evo.search.aggregation import PopulationStats
from storage.records import EvaluationIn


class ObserverGroup(RunObserver):
    """Calls every hook of each of ``observers``, in the order given.

    A hook that raises stops the run there (as with a single observer); the observers after
    it do not see that event.
    """

    def __init__(self, observers: Sequence[RunObserver]) -> None:
        for observer in observers:
            if not isinstance(observer, RunObserver):
                raise UsageError(
                    f"observers: {type(observer).__name__} is not an evo.RunObserver; "
                    "subclass evo.RunObserver and override the hooks you need"
                )
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
