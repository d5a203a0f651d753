"""Run storage: SQLAlchemy schema and the :class:`Store` API (SQLite by default).

Knows rows and genomes, nothing of Ray or training. Imports only ``optimizers`` (genome
types and the error root).
"""

from storage.errors import (
    DatabaseOpenError,
    RunExistsError,
    SchemaVersionError,
    StorageError,
    TaskNotInRunError,
    UnknownGenomeError,
    UnknownRunError,
)
from storage.orm import SCHEMA_VERSION
from storage.records import (
    FIXED_GENERATION,
    EntryEstimate,
    EvaluationIn,
    EvaluationRecord,
    GenerationRecord,
    IndividualIn,
    IndividualRecord,
    RunEntry,
    RunRecord,
    RunScope,
    SeedResult,
    TaskTotal,
)
from storage.store import DEFAULT_URL, Store

__all__ = [
    "DEFAULT_URL",
    "FIXED_GENERATION",
    "SCHEMA_VERSION",
    "DatabaseOpenError",
    "EntryEstimate",
    "EvaluationIn",
    "EvaluationRecord",
    "GenerationRecord",
    "IndividualIn",
    "IndividualRecord",
    "RunEntry",
    "RunExistsError",
    "RunRecord",
    "RunScope",
    "SchemaVersionError",
    "SeedResult",
    "StorageError",
    "Store",
    "TaskNotInRunError",
    "TaskTotal",
    "UnknownGenomeError",
    "UnknownRunError",
]
