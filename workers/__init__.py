"""Fitness evaluation: tasks, data, models and the two training paths.

``workers.evaluate(request) -> result`` is a pure function of an :class:`EvalRequest`; it
never touches the database. Ray is imported only by ``workers.actors``.
"""

from workers.device import resolve_device
from workers.errors import (
    DeviceUnavailableError,
    MissingDataError,
    UnknownEntryError,
    UnknownTaskError,
    WorkerError,
)
from workers.evaluate import evaluate
from workers.process import configure_worker_process
from workers.requests import EntrySpec, EvalRequest, EvalResult, MemberResult, budget_key
from workers.tasks.datasets import download_data
from workers.tasks.protocol import Task
from workers.tasks.registry import TASKS, RegisteredTask, check_data, get_task

__all__ = [
    "TASKS",
    "DeviceUnavailableError",
    "EntrySpec",
    "EvalRequest",
    "EvalResult",
    "MemberResult",
    "MissingDataError",
    "RegisteredTask",
    "Task",
    "UnknownEntryError",
    "UnknownTaskError",
    "WorkerError",
    "budget_key",
    "check_data",
    "configure_worker_process",
    "download_data",
    "evaluate",
    "get_task",
    "resolve_device",
]
