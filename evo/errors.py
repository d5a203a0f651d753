"""Errors the driver and the CLI raise for user mistakes.

Every class derives from :class:`optimizers.errors.EvoError` (re-exported here), so the
CLI catches one type at its edge, prints the one-line message and exits 2. Errors of the
store (``storage.errors``) and of the workers (``workers`` ``WorkerError``) share that root.
"""

from __future__ import annotations

from optimizers.errors import EvoError

__all__ = ["ClusterError", "ConfigError", "EvoError", "UsageError"]


class ConfigError(EvoError):
    """A job config (file or ``key=value`` override) is missing, unreadable or invalid."""


class UsageError(EvoError):
    """A command-line call is inconsistent (conflicting or missing options)."""


class ClusterError(EvoError):
    """The Ray cluster cannot run the job as configured (e.g. GPUs asked, none present)."""
