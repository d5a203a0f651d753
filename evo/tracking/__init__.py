"""Experiment tracking: a run's progress also logged to TensorBoard and MLflow.

Configured by the job config's ``tracking:`` section (:mod:`evo.config.tracking`), checked
before a run writes anything (:mod:`evo.runner.tracking_check`), and fed by a run observer
(:mod:`evo.tracking.observer`) that reads each closed generation back from the store.
What is logged: :mod:`evo.tracking.points` (per generation) and
:mod:`evo.tracking.run_summary` (per run). Nothing here is imported by the read commands;
the backends' packages are imported only when a backend opens.

Use::

    from evo.runner.events import ObserverGroup
    from evo.tracking import observers_for

    trackers = observers_for(cfg, store, run)
    try:
        Driver(store, run, executor, ObserverGroup([progress, *trackers]), cfg=cfg).run()
    finally:
        for tracker in trackers:
            tracker.close()
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evo.config.schema import JobConfig
    from evo.tracking.observer import TrackingObserver
    from storage import Store
    from storage.records import RunRecord

__all__ = ["observers_for"]


def observers_for(cfg: JobConfig, store: Store, run: RunRecord) -> list[TrackingObserver]:
    """The tracking observers of ``cfg.tracking`` for ``run`` (empty when none is configured).

    Pass them to the :class:`~evo.runner.driver.Driver` (with :class:`~evo.runner.events.ObserverGroup`)
    and ``close()`` each when the driver returns or raises.
    """
    if not cfg.tracking.enabled:
        return []
    from evo.tracking.backend import TrackingBackend
    from evo.tracking.observer import TrackingObserver

    backends: list[TrackingBackend] = []
    if cfg.tracking.tensorboard is not None:
        from evo.tracking.tensorboard_backend import TensorBoardBackend

        backends.append(TensorBoardBackend(cfg.tracking.tensorboard))
    if cfg.tracking.mlflow is not None:
        from evo.tracking.mlflow_backend import MlflowBackend

        backends.append(MlflowBackend(cfg.tracking.mlflow))
    return [TrackingObserver(store, run, cfg, backends)]
