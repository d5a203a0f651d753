"""The ``tracking:`` section of a job config: where a run's progress is also logged.

::

    tracking:
      tensorboard: {dir: runs/tb}
      mlflow: {tracking_uri: "file:mlruns", experiment: evo}

Each backend is off when its key is absent. Only the value rules live here (a URI scheme
MLflow knows, a non-empty folder); whether the folder is writable, the server reachable and
the package installed depends on the machine and is checked by ``evo.runner.tracking_check``
before a run writes anything. The section changes no result, so a run may be resumed with
another one.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

MLFLOW_SCHEMES = ("file", "sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks")
"""Tracking URI schemes MLflow stores runs under (``scheme:`` or ``scheme+driver:``)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorBoardTracking(_Section):
    """TensorBoard event files: one folder per run under ``dir``."""

    dir: str = Field("runs/tb", min_length=1, description="Folder of the TensorBoard runs (one per evo run).")


class MlflowTracking(_Section):
    """One MLflow run per evo run, in ``experiment`` at ``tracking_uri``."""

    tracking_uri: str = Field(
        "sqlite:///mlflow.db",
        min_length=1,
        description="MLflow tracking URI: file:DIR, sqlite:///FILE, http(s)://.",
    )
    experiment: str = Field("evo", min_length=1, max_length=250, description="MLflow experiment name.")

    @field_validator("tracking_uri")
    @classmethod
    def _known_scheme(cls, uri: str) -> str:
        scheme = uri.split(":", 1)[0].split("+", 1)[0].lower() if ":" in uri else ""
        if scheme not in MLFLOW_SCHEMES:
            raise ValueError(
                f"expected a URI such as 'file:mlruns', 'sqlite:///mlflow.db' or 'http://host:5000' "
                f"(schemes: {', '.join(MLFLOW_SCHEMES)}), got {uri!r}"
            )
        return uri


class TrackingConfig(_Section):
    """Experiment trackers the run also logs to; none by default."""

    tensorboard: TensorBoardTracking | None = Field(None, description="TensorBoard event files; None: off.")
    mlflow: MlflowTracking | None = Field(None, description="MLflow tracking; None: off.")

    @property
    def enabled(self) -> bool:
        """Whether any backend is configured."""
        return self.tensorboard is not None or self.mlflow is not None
