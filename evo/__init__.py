"""evo: evolve PyTorch optimizers with a genetic algorithm; results in a database.

The public Python API (docs/python-api.md)::

    import evo

    run = evo.run("configs/quick.yaml", db="runs/evo.db", overrides=["population.generations=2"])
    run.best(3)                          # ranked entries, as `evo best`
    run.export("evolved_optimizer.py")   # the winner as a torch.optim.Optimizer file
    run.evaluations()                    # pandas DataFrame, one row per stored evaluation
    evo.open("runs/evo.db").runs()       # the stored runs

=================================================  =========================================
``evo.__version__``                                the installed version
``evo.load_config(path_or_dict, overrides=())``    a validated :class:`JobConfig`
``evo.run(config, *, name, db, overrides,          start or resume a run; returns ``evo.Run``
observers)``
``evo.open(db)``                                   ``.runs()`` and ``.run(name) -> evo.Run``
``evo.Run``                                        ``best``, ``export``, ``evaluations``,
                                                   ``generations``, ``report``
``evo.RunObserver``                                subclass it to attach your own logging
``evo.Task``                                       the protocol a custom task implements
``evo.JobConfig``, ``evo.EvoError``                the config model; the user-error root
=================================================  =========================================

Every name is imported when first used (module ``__getattr__``), so ``import evo`` and the
CLI's read commands start without torch, numpy or Ray.

"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evo.api.shadowing import check_not_shadowed

if TYPE_CHECKING:
    from evo.api.config import load_config as load_config
    from evo.api.database import Database as Database
    from evo.api.database import open_database as open  # noqa: F401 (public, not in __all__)
    from evo.api.run_handle import Run as Run
    from evo.api.runs import run as run
    from evo.config.schema import JobConfig as JobConfig
    from evo.runner.events import RunObserver as RunObserver
    from optimizers.errors import EvoError as EvoError

# `from evo import *` leaves out "open" (the builtin open stays) and "Task" (its module,
# workers.tasks.protocol, comes with custom tasks); both are public as evo.open and evo.Task.
__all__ = ["Database", "EvoError", "JobConfig", "Run", "RunObserver", "__version__", "load_config", "run"]

_LAZY = {
    "load_config": ("evo.api.config", "load_config"),
    "run": ("evo.api.runs", "run"),
    "open": ("evo.api.database", "open_database"),
    "Database": ("evo.api.database", "Database"),
    "Run": ("evo.api.run_handle", "Run"),
    "RunObserver": ("evo.runner.events", "RunObserver"),
    "JobConfig": ("evo.config.schema", "JobConfig"),
    "EvoError": ("optimizers.errors", "EvoError"),
    # The protocol a custom task's factory returns (``tasks: [{import: "module:factory"}]``).
    "Task": ("workers.tasks.protocol", "Task"),
}


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562); ``__version__`` is read from the
    installed distribution (:func:`evo.api.version.package_version`)."""
    if name == "__version__":
        from evo.api.version import package_version

        version = package_version()
        globals()["__version__"] = version
        return version
    if name not in _LAZY:
        raise AttributeError(f"module 'evo' has no attribute {name!r}")
    check_not_shadowed()
    import importlib

    module_name, attribute = _LAZY[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise AttributeError(f"evo.{name} needs {module_name}, which this installation lacks") from None
    value = getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, "__version__"})
