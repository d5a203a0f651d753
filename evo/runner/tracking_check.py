"""Machine checks of the ``tracking:`` section, run by :func:`evo.runner.preflight.preflight`.

A backend that would fail mid-run fails here instead, with one line and before anything is
written (this module creates no folder, file or database):

* its package is installed (``pip install 'evo[tensorboard]'`` / ``'evo[mlflow]'``);
* a local destination (the TensorBoard folder, a ``file:`` or ``sqlite:`` MLflow store) is
  writable: every part of the path that exists is a folder (the last may be the SQLite
  file), and the deepest existing folder lets this user create entries;
* an ``http(s)://`` MLflow server answers its ``/health`` endpoint within a few seconds.

Other MLflow schemes (a database server, Databricks) are checked by MLflow when the run
starts; a failure there is a warning and the run goes on (``evo.tracking``).
"""

from __future__ import annotations

import importlib.util
import os
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlparse

from evo.config.tracking import TrackingConfig
from evo.errors import ConfigError
from optimizers.errors import one_line

HEALTH_TIMEOUT_S = 5.0


def installed(package: str) -> bool:
    """Whether ``package`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # ValueError: a module blocked in sys.modules
        return False


def local_store_path(uri: str) -> Path | None:
    """The file or folder a ``file:`` / ``sqlite:`` tracking URI writes to; None for others.

    ``file:mlruns`` and ``file:///abs/mlruns`` are folders, ``sqlite:///rel.db`` and
    ``sqlite:////abs.db`` files (SQLAlchemy's form); ``sqlite://`` (in memory) is None.
    """
    scheme = uri.split(":", 1)[0].lower()
    if scheme == "file":
        parsed = urlparse(uri)
        return Path(unquote(parsed.path or parsed.netloc))
    if scheme == "sqlite":
        rest = uri.split(":", 1)[1]
        if not rest.startswith("///"):
            return None
        return Path(unquote(rest[3:].split("?", 1)[0])) if rest[3:] else None
    return None


def writable_problem(path: Path, *, file_ok: bool = False) -> str | None:
    """Why ``path`` could not be created or written, or None when it can (nothing is created)."""
    path = path.expanduser()
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            return f"no part of {str(path)!r} exists"
        probe = probe.parent
    if probe.is_file() and not (probe == path and file_ok):
        return f"{str(probe)!r} is a file, not a folder"
    if probe.is_file():
        return None if os.access(probe, os.W_OK) else f"{str(probe)!r} is not writable"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"folder {str(probe)!r} is not writable"
    return None


def server_problem(uri: str) -> str | None:
    """Why the MLflow server at ``uri`` does not answer ``GET /health``, or None."""
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=HEALTH_TIMEOUT_S) as response:
            if response.status >= 400:
                return f"{url} answered HTTP {response.status}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"no MLflow server answers at {uri} ({one_line(str(getattr(exc, 'reason', exc)))})"
    return None


def check_tracking(tracking: TrackingConfig) -> None:
    """Raise the first reason a configured tracking backend would fail (module docstring).

    Raises:
        ConfigError: one line naming the field and the fix.
    """
    if tracking.tensorboard is not None:
        if not installed("tensorboard"):
            raise ConfigError(
                "tracking.tensorboard needs the tensorboard package: pip install 'evo[tensorboard]'"
            )
        problem = writable_problem(Path(tracking.tensorboard.dir))
        if problem:
            raise ConfigError(f"tracking.tensorboard.dir: {problem}; choose a folder this user can write")
    if tracking.mlflow is not None:
        if not installed("mlflow"):
            raise ConfigError("tracking.mlflow needs the mlflow package: pip install 'evo[mlflow]'")
        uri = tracking.mlflow.tracking_uri
        scheme = uri.split(":", 1)[0].lower()
        path = local_store_path(uri)
        problem = writable_problem(path, file_ok=scheme == "sqlite") if path is not None else None
        if scheme in ("http", "https"):
            problem = server_problem(uri)
        if problem:
            raise ConfigError(f"tracking.mlflow.tracking_uri: {problem}; fix the URI or start the server")
