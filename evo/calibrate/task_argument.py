"""The task ``evo calibrate --task`` and ``Run.export(calibrate_on=...)`` sweep on: a built-in
task's name, a user's factory as ``module:factory``, or the config's mapping form
``{import: "module:factory", name: ..., kwargs: {...}}`` (YAML text on the command line).

A user's task is checked as a job config checks it (import, kwargs, one trial training step:
:mod:`evo.config.task_items`) and comes back as its ``TaskKey``, which carries the spec the
workers rebuild the task from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evo.errors import UsageError


def _mapping(text: str) -> dict[str, Any]:
    from evo.config import safe_yaml

    try:
        value = safe_yaml.load(text)
    except Exception as exc:  # a YAML error of any kind is the user's text
        raise UsageError(f"--task: not a task mapping ({type(exc).__name__}); "
                         "write {import: 'module:factory', name: my_task}") from None  # fmt: skip
    if not isinstance(value, Mapping):
        raise UsageError("--task: write a task mapping as {import: 'module:factory', name: ..., kwargs: ...}")
    return dict(value)


def task_argument(task: str | Mapping[str, Any]) -> str:
    """The checked task: a registry name as it is, a user's task as its ``TaskKey``.

    Raises:
        UsageError: an unknown name, or a user's task that does not import or train (one line).
    """
    from evo.config.task_items import parse_task_item
    from workers.tasks.registry import TASKS

    if isinstance(task, str) and task in TASKS:
        return task
    if isinstance(task, Mapping):
        spec = dict(task)
    elif task.lstrip().startswith("{"):
        spec = _mapping(task)
    elif ":" in task:
        spec = {"import": task.strip()}
    else:
        raise UsageError(
            f"--task {task!r}: unknown task; give a built-in task ({', '.join(sorted(TASKS))}), "
            "module:factory, or {import: 'module:factory', name: ..., kwargs: {...}}"
        )
    if "name" not in spec and isinstance(spec.get("import"), str):
        spec["name"] = spec["import"].rpartition(":")[2] or "task"
    try:
        return parse_task_item(spec)
    except ValueError as exc:
        raise UsageError(f"--task: {exc}") from None
