"""Errors of the store: each message is one line saying what is wrong and what to do.

All derive from :class:`StorageError`, itself an :class:`optimizers.errors.EvoError`, so the
CLI prints them as one line and exits 2. (One ``errors`` module per package, the same concept
at each layer: see :mod:`optimizers.errors`.)
"""

from __future__ import annotations

from optimizers.errors import EvoError


class StorageError(EvoError):
    """A store operation failed; nothing was written by it (its transaction rolled back)."""


class UnknownRunError(StorageError):
    """No run has the given name or id."""


class RunExistsError(StorageError):
    """A run with that name already exists."""


class UnknownGenomeError(StorageError):
    """No stored genome has the given hash or prefix (or the prefix is ambiguous)."""


class TaskNotInRunError(StorageError):
    """A task the run does not score was asked for (``workers``' ``UnknownTaskError`` is a name
    that is no task at all)."""


class SchemaVersionError(StorageError):
    """The database was written by a newer or unknown schema version."""


class DatabaseOpenError(StorageError):
    """The database cannot be opened: not a database, read-only location, bad URL, no server."""


class DamagedRowError(StorageError):
    """A stored row cannot be read back (its JSON was damaged outside evo)."""


class RunLeasedError(StorageError):
    """Another live driver holds the run's lease."""
