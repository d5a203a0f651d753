"""The installed version of evo, and the name it is installed under.

The import name is ``evo``; the distribution (what ``pip install`` and ``pip show`` name) is
:data:`DISTRIBUTION`, because the name ``evo`` on the public package index belongs to an
unrelated odometry/SLAM package.

Stdlib only: ``evo --version`` and ``evo.__version__`` start nothing else.
"""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "evo-optimizer-search"
"""The distribution name (``[project] name`` in pyproject.toml)."""

UNKNOWN = "0+unknown"
"""The version when neither an installed distribution nor a checkout says one."""

_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # .../evo


def package_version() -> str:
    """The version of the code that is running.

    1. the installed :data:`DISTRIBUTION`'s metadata, if that distribution installed these
       very files (``pip install .``);
    2. else ``[project] version`` of the checkout's pyproject.toml beside the package (a
       source checkout on ``PYTHONPATH``, or an editable install);
    3. else :data:`UNKNOWN`.
    """
    return _installed_version() or _checkout_version() or UNKNOWN


def _installed_version() -> str | None:
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
    installed = Path(str(dist.locate_file("evo/__init__.py")))
    if not installed.is_file() or installed.resolve() != _PACKAGE_DIR / "__init__.py":
        return None  # another copy is installed; this code runs from elsewhere
    return dist.version


def _checkout_version() -> str | None:
    pyproject = _PACKAGE_DIR.parent / "pyproject.toml"
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    if project.get("name") != DISTRIBUTION or not isinstance(project.get("version"), str):
        return None
    return project["version"]
