"""The interface every tracking backend implements (TensorBoard, MLflow).

A backend writes; it never decides what or when. :class:`evo.tracking.observer.TrackingObserver`
calls ``open`` once per driver (start or resume), which finds the tracker's run of this evo
run again and says which step each metric already reached, so that nothing is logged twice;
then ``log_run_start``, ``log_metrics`` per new step, ``end_generation``, and at the end
``log_winner`` and ``close``. Any method may raise: the observer turns that into a warning
and stops using the backend; the run goes on.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from evo.tracking.run_summary import RunIdentity, Winner


class TrackingBackend(ABC):
    """One tracker's writer for one evo run."""

    name: str

    @abstractmethod
    def open(self, identity: RunIdentity) -> dict[str, int]:
        """Open (or create) the tracker's run of ``identity``; the last logged step per metric."""

    @abstractmethod
    def log_run_start(self, params: dict[str, str], config_text: str) -> None:
        """Log the config (parameters and YAML), skipping what an earlier driver logged."""

    @abstractmethod
    def log_metrics(self, step: int, walltime: float, metrics: dict[str, float]) -> None:
        """Log ``metrics`` at ``step`` (wall time in seconds since the epoch)."""

    @abstractmethod
    def end_generation(self) -> None:
        """Make everything logged so far durable (a SIGKILL may come next)."""

    @abstractmethod
    def log_winner(self, winner: Winner, step: int, export_file: Path | None) -> None:
        """Log the run's winner: rule, hyperparameters and (when given) the exported file."""

    @abstractmethod
    def close(self, finished: bool) -> None:
        """Release the writer; ``finished``: the evo run ended (else it was interrupted)."""
