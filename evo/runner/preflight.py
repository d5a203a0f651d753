"""Checks that run before anything is written, so that a user error leaves the store alone.

``evo run``/``resume``/``compare`` call :func:`preflight` before opening the store for
writing and before starting Ray: an unknown task, missing data or a GPU device on a machine
without one fails here with a one-line :class:`~optimizers.errors.EvoError`.
"""

from __future__ import annotations

from evo.config.schema import JobConfig
from evo.config.task_items import training_path_notes


def preflight(cfg: JobConfig) -> list[str]:
    """Raise the first user error that would make ``cfg`` fail later; return notes for the
    run's output (the training path of each user's task, :mod:`evo.config.task_items`).

    * every task's data is on disk under ``data.dir`` (``workers.check_data``; task and
      fixed-entry names were checked when ``cfg`` was validated; with ``data.download: true``
      torchvision first downloads what is missing, here);
    * the evaluation device exists here, when evaluations run on this machine (inline, or a
      local Ray cluster started by the driver); a remote cluster checks its own GPUs when
      the executor starts;
    * the configured tracking backends can write (:mod:`evo.runner.tracking_check`).
    """
    from evo.runner.tracking_check import check_tracking
    from workers import check_data, resolve_device

    check_tracking(cfg.tracking)

    check_data(list(cfg.tasks), cfg.data.dir, download=cfg.data.download)
    if cfg.executor.kind == "inline" or cfg.executor.address is None:
        resolve_device(cfg.evaluation.device)
    return training_path_notes(cfg)
