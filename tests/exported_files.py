"""Importing a written Python file (an exported optimizer) as a module, as a user's project would."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from evo.report.optimizer_file import write_optimizer_file
from optimizers import Genome


def load_module(path: Path, name: str | None = None) -> ModuleType:
    """Execute the file at ``path`` as a fresh module called ``name`` (default: its stem)."""
    spec = importlib.util.spec_from_file_location(name or Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def exported_class(genome: Genome, folder: Path, name: str, **options) -> type:
    """Export ``genome`` to ``folder/name.py`` as class ``Exported`` (``options``: the writer's
    keywords, e.g. ``total_steps``) and return that class."""
    path = write_optimizer_file(genome, folder / f"{name}.py", class_name="Exported", **options)
    return load_module(path, name).Exported
