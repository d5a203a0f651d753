"""The ``tasks`` and ``holdout_tasks`` lists of a job config: registry names and users' tasks.

An item is a registry name (``digits``) or a mapping
``{import: "module:factory", name: ..., kwargs: {...}}`` (:class:`workers.tasks.user_tasks.CustomTask`).
A user's task is checked when the config loads (import, kwargs against the factory's
signature, the protocol's attributes, one trial forward/backward on a small batch:
:mod:`workers.tasks.task_check`), so a bad one fails before anything runs, in one line that
names it.

In the validated config a user's task is a :class:`TaskKey`: a ``str`` whose value is its
cache key ``name@hash`` (what the store's ``task`` column, tables and reports show) and
which carries its spec. Everything that treats tasks as names works unchanged; the config
dumps it back as the mapping, so a stored config reloads (and resumes) as it was written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import PlainSerializer, PlainValidator, ValidationError

from optimizers.errors import one_line

if TYPE_CHECKING:
    from evo.config.schema import JobConfig
    from workers.tasks.user_tasks import CustomTask


class TaskKey(str):
    """A user's task in a validated config: the key ``name@hash``, with ``.spec`` attached."""

    spec: CustomTask

    @classmethod
    def of(cls, spec: CustomTask) -> TaskKey:
        key = cls(spec.key)
        key.spec = spec
        return key

    def __reduce__(self) -> tuple[Any, ...]:
        return (TaskKey.of, (self.spec,))


def parse_task_item(value: Any) -> str:
    """A registry name as it is (checked by :func:`check_task_items`), a mapping as a checked
    :class:`TaskKey`; ValueError (one line) otherwise."""
    from workers.tasks.user_tasks import CustomTask, checked

    if isinstance(value, TaskKey | CustomTask):
        spec = value.spec if isinstance(value, TaskKey) else value
    elif isinstance(value, str):
        return value
    elif isinstance(value, Mapping):
        try:
            spec = CustomTask.model_validate(dict(value))
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            label = value.get("name") or value.get("import") or "without a name"
            raise ValueError(one_line(f"task {label}: {where}: {message}" if where else message)) from None
    else:
        raise ValueError(
            f"expected a task name or {{import: 'module:factory', name: ..., kwargs: {{...}}}}, got {value!r}"
        )
    checked(spec)
    return TaskKey.of(spec)


def dump_task_item(value: str) -> Any:
    """The config's form: the name, or the user's task mapping."""
    return value.spec.model_dump(mode="json") if isinstance(value, TaskKey) else str(value)


TaskItem = Annotated[str, PlainValidator(parse_task_item), PlainSerializer(dump_task_item)]
"""One ``tasks`` / ``holdout_tasks`` item."""


def check_task_items(items: list[str]) -> list[str]:
    """Known registry names, no task twice, no user's task named like a registry task."""
    from workers.tasks.registry import TASKS

    for item in items:
        if isinstance(item, TaskKey) and item.spec.name in TASKS:
            raise ValueError(f"{item.spec.name!r} is a registry task's name; give your task another name")
    labels = [item.spec.name if isinstance(item, TaskKey) else item for item in items]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ValueError(f"listed twice: {', '.join(duplicates)}")
    unknown = [t for t in items if not isinstance(t, TaskKey) and t not in TASKS]
    if unknown:
        raise ValueError(f"unknown task {unknown[0]!r}; known: {', '.join(sorted(TASKS))}")
    return items


def custom_tasks(cfg: JobConfig) -> dict[str, CustomTask]:
    """Task key -> spec of every user's task of ``cfg`` (training and held-out; a key given
    as a plain string, e.g. a funnel rung's ``tasks``, is found among the loaded ones)."""
    from workers.tasks.user_tasks import loaded_spec

    found: dict[str, CustomTask] = {}
    for task in [*cfg.tasks, *cfg.holdout_tasks]:
        spec = task.spec if isinstance(task, TaskKey) else loaded_spec(task)
        if spec is not None:
            found[str(task)] = spec
    return found


def training_path_notes(cfg: JobConfig) -> list[str]:
    """One line per user's task: the training path it takes and why (for the run's output)."""
    from workers.tasks.user_tasks import path_note

    return [path_note(spec) for spec in custom_tasks(cfg).values()]
