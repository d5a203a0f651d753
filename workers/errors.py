"""Errors a worker raises for a bad request or missing data (never for a training failure).

A member whose training fails is a value (``MemberResult`` with status ``"failed"``); these
exceptions are for requests that cannot be run at all. All derive from
:class:`optimizers.errors.EvoError`, so ``evo``'s CLI prints their one-line message. (One
``errors`` module per package, the same concept at each layer: see :mod:`optimizers.errors`.)
"""

from __future__ import annotations

from optimizers.errors import EvoError


class WorkerError(EvoError):
    """Root of the worker's user-facing errors."""


class UnknownTaskError(WorkerError):
    """A task name that is not in :data:`workers.tasks.registry.TASKS`."""


class UnknownEntryError(WorkerError):
    """A fixed entry name that is not in :data:`optimizers.registry.REGISTRY`."""


class MissingDataError(WorkerError):
    """A data set's files are not in the data directory (or cannot be read)."""


class DeviceUnavailableError(WorkerError):
    """The requested device does not exist on this worker."""
