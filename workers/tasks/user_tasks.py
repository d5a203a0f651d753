"""Bring your own task: a factory named by import path that returns a protocol task.

A job config lists it among its tasks (or held-out tasks)::

    tasks: [digits, {import: "my_tasks:make_task", name: my_regression, kwargs: {hidden: 64}}]

``my_tasks.make_task(hidden=64)`` returns an object of the task protocol
(:mod:`workers.tasks.protocol`). Its evaluations are stored under the task key ``name@h``
(``h`` a hash of the import path and kwargs, :mod:`optimizers.import_spec`, as for a user's
optimizer), so a second run or a resume with the same task finds them cached; changing the
factory's code without changing its path or kwargs is not detected (give it a new name or
kwarg). Workers rebuild the task from the :class:`CustomTask` spec in their work item; the
module must be importable where they run (:func:`user_module_paths` lists what a Ray
executor ships to its actors).

Entry points: :func:`load_task` (the checked task object, cached per process; the one
function other commands such as ``evo calibrate`` call), :func:`checked` (it and the
training path), :func:`registered_task` (what :func:`workers.evaluate` trains).
"""

from __future__ import annotations

import inspect
import sys
import sysconfig
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from optimizers.errors import one_line
from optimizers.import_spec import ImportSpec
from workers.tasks.protocol import Task

if TYPE_CHECKING:
    from workers.tasks.registry import ProtocolTask
    from workers.tasks.task_check import TaskCheck

_LOADED: dict[str, tuple[Task, TaskCheck]] = {}
_MODULES: dict[str, str] = {}
"""Task key -> the top-level module its factory was imported from."""
_SPECS: dict[str, CustomTask] = {}
"""Task key -> spec, of every task loaded in this process."""
_LOCK = threading.RLock()
OUR_PACKAGES = frozenset({"evo", "workers", "optimizers", "storage"})


class CustomTask(ImportSpec):
    """One user task: the factory's import path, the task's name, the factory's kwargs."""

    SHAPE: ClassVar[str] = "module:factory"
    EXAMPLE: ClassVar[str] = "my_tasks:make_task"

    def load(self) -> tuple[Task, TaskCheck]:
        """Import the factory, call it with the kwargs and check the result (not cached).

        Raises:
            ValueError: one line, prefixed by the name and import path.
        """
        from workers.tasks.task_check import check_task

        try:
            factory = self.import_target()
            if not callable(factory):
                raise ValueError(
                    f"{self.import_path} is not callable (name a function that returns the task)"
                )
            try:
                inspect.signature(factory).bind(**self.kwargs)
            except TypeError as exc:
                raise ValueError(f"bad kwargs: {one_line(exc)}") from None
            except ValueError:  # a callable without a signature (a builtin): let the call tell
                pass
            try:
                task = factory(**self.kwargs)
            except Exception as exc:  # the user's factory, whatever it raises
                raise ValueError(f"the factory failed: {one_line(exc, 300, typed=True)}") from None
            return task, check_task(task)
        except ValueError as exc:
            raise ValueError(f"task {self.name} ({self.import_path}): {one_line(exc, 400)}") from None


def checked(spec: CustomTask | dict[str, Any]) -> tuple[Task, TaskCheck]:
    """The spec's task and its check, loaded once per process and task key."""
    spec = spec if isinstance(spec, CustomTask) else CustomTask.model_validate(spec)
    with _LOCK:
        if spec.key not in _LOADED:
            _LOADED[spec.key] = spec.load()
            _MODULES[spec.key] = spec.module_name.partition(".")[0]
            _SPECS[spec.key] = spec
        return _LOADED[spec.key]


def loaded_spec(key: str) -> CustomTask | None:
    """The spec of a task key loaded in this process (a config holding it was validated)."""
    with _LOCK:
        return _SPECS.get(key)


def load_task(spec: CustomTask | dict[str, Any]) -> Task:
    """A user's task from its spec (``{"import": "module:factory", "name": ..., "kwargs": ...}``
    or a :class:`CustomTask`), checked with one trial step and cached per process.

    Raises:
        ValueError: one line naming the task and what is wrong with it.
    """
    return checked(spec)[0]


def registered_task(spec: CustomTask) -> ProtocolTask:
    """The spec as a registry entry named by its key, the training path chosen by its check."""
    from workers.tasks.registry import ProtocolTask

    task, check = checked(spec)
    return ProtocolTask(
        name=spec.key, kind="custom", needs_data_dir=False, description=f"{spec.name}: {spec.import_path}",
        model_factory=task.model, population_on_cpu=check.population, population_ok=check.population,
        load=lambda: task,
    )  # fmt: skip


def path_note(spec: CustomTask) -> str:
    """One line for the run's output: which training path the task takes, and why."""
    check = checked(spec)[1]
    return f"task {spec.key} ({spec.import_path}): {check.path} path ({check.reason})"


def user_module_paths() -> list[str]:
    """Files or package folders of the modules users' tasks were imported from in this
    process (not evo's own, nor installed or standard-library ones): what a Ray executor
    ships to its actors (``runtime_env={"py_modules": ...}``)."""
    with _LOCK:
        modules = set(_MODULES.values())
    return sorted({p for p in (module_path(m) for m in modules) if p is not None})


def module_path(module_name: str) -> str | None:
    """The file (a single-file module) or folder (a package) of an imported user module."""
    if module_name in OUR_PACKAGES or module_name not in sys.modules:
        return None
    module = sys.modules[module_name]
    location = list(getattr(module, "__path__", []) or []) or [getattr(module, "__file__", None)]
    if len(location) != 1 or location[0] is None:
        return None
    path = Path(location[0]).resolve()
    installed = {
        Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib", "stdlib", "platstdlib")
    }
    if any(path.is_relative_to(folder) for folder in installed):
        return None
    return str(path)
