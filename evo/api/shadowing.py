"""Refuse to run when a user's own module hides one of evo's top-level packages.

evo is four import packages: ``evo``, ``optimizers``, ``storage`` and ``workers``. Python
puts the current folder first on ``sys.path`` for ``python -m evo`` and ``python -c``, so a
user's ``optimizers.py`` (or ``storage.py``, ``workers.py``, or a folder of that name with an
``__init__.py``) there, or anywhere earlier on ``PYTHONPATH``, is imported instead of ours
and evo would fail deep inside with ``No module named 'optimizers.errors'``.

:func:`check_not_shadowed` finds where each package would be imported from (without
importing it) and compares that with the folder ``evo`` itself came from. Stdlib only: it
runs before anything of ours that could be shadowed is imported.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SIBLINGS = ("optimizers", "storage", "workers")
"""evo's other top-level packages; they are installed beside ``evo``."""

_ROOT = Path(__file__).resolve().parents[2]  # the folder holding evo/ and its siblings


class ShadowedPackageError(ImportError):
    """A module of the user's hides one of evo's top-level packages (message: one line)."""


def where_imported_from(name: str) -> Path | None:
    """The file or package folder ``import name`` would load (the loaded one if imported)."""
    module = sys.modules.get(name)
    if module is not None:
        locations = list(getattr(module, "__path__", []) or [])
        origin = getattr(module, "__file__", None)
    else:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
        if spec is None:
            return None
        locations = list(spec.submodule_search_locations or [])
        origin = spec.origin
    if locations:
        return Path(locations[0])
    return Path(origin) if origin and origin not in ("built-in", "frozen", "namespace") else None


def shadowing_problem() -> str | None:
    """One line naming the first of :data:`SIBLINGS` that is not evo's own, or None."""
    for name in SIBLINGS:
        ours = _ROOT / name
        found = where_imported_from(name)
        if found is None:
            return (
                f"evo's package {name!r} cannot be found beside {_ROOT / 'evo'}; "
                f"reinstall evo (pip install .)"
            )
        if found.resolve() != ours:
            return (
                f"{found} hides evo's package {name!r} (Python imports it before evo's own, "
                f"from the current folder or PYTHONPATH); rename it or run evo from another folder"
            )
    return None


def check_not_shadowed() -> None:
    """Raise :class:`ShadowedPackageError` if a sibling package is not evo's own."""
    problem = shadowing_problem()
    if problem is not None:
        raise ShadowedPackageError(problem)
