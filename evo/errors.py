"""Every error class of the ``evo`` package: config, command line, run, executor and cluster.

Each derives from :class:`optimizers.errors.EvoError` (re-exported here), so the CLI catches
one type at its edge, prints the one-line message (:func:`optimizers.errors.one_line`) and
exits 2. Errors of the store (``storage.errors``) and of the workers (``workers.errors``)
share that root: one ``errors`` module per package, the same concept at each layer.
"""

from __future__ import annotations

from optimizers.errors import EvoError

__all__ = [
    "ClusterResourceError",
    "ConfigError",
    "EvoError",
    "ExecutorError",
    "NoGPUError",
    "RayConnectError",
    "RunConflictError",
    "UsageError",
]


class ConfigError(EvoError):
    """A job config (file or ``key=value`` override) is missing, unreadable or invalid."""


class UsageError(EvoError):
    """A command-line call is inconsistent (conflicting or missing options)."""


class RunConflictError(EvoError):
    """A run of that name exists with a different configuration."""


class ExecutorError(EvoError):
    """The executor cannot run as configured (cluster, resources)."""


class RayConnectError(ExecutorError):
    """The Ray cluster at the given address cannot be reached."""


class ClusterResourceError(ExecutorError):
    """The actor pool asks for more than the cluster has; Ray would wait forever."""


class NoGPUError(ClusterResourceError):
    """GPU actors requested on a cluster without GPUs."""
