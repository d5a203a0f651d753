"""MLflow: one MLflow run per evo run, found again on resume by its ``evo.run_uid`` tag.

Everything goes through ``mlflow.tracking.MlflowClient`` with an explicit run id (no
global active run). Metrics are logged with ``step`` = generation index and the
generation's close time; on resume the run's metric histories say which steps exist.
Parameters are the config's ``section.field`` values (MLflow refuses to change a logged
parameter, so a resume logs only the new ones); the YAML config is an artifact. At the
end: the winner's rule (tag and ``winner/rule.txt``), its hyperparameters
(``winner.*`` parameters and ``winner/genome.json``) and the exported optimizer file.

MLflow 3 refuses its folder store (``file:``) unless ``MLFLOW_ALLOW_FILE_STORE`` is set; a
config that names a ``file:`` URI asks for it, so evo sets that variable (when unset). For
an ``http(s)`` server evo lowers MLflow's retries and timeout (when unset: 2 retries, 10 s per
request), so that a server that dies mid-run stalls the run for seconds, not minutes,
before the backend is dropped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from evo.config.tracking import MlflowTracking
from evo.tracking.backend import TrackingBackend
from evo.tracking.run_summary import RunIdentity, Winner

UID_TAG = "evo.run_uid"
BATCH = 100
"""Parameters per ``log_batch`` call (MLflow's limit)."""


class MlflowBackend(TrackingBackend):
    """Metrics, parameters, tags and artifacts of one MLflow run."""

    name = "mlflow"

    def __init__(self, section: MlflowTracking) -> None:
        self.section = section
        self.client: Any = None
        self.run_id: str | None = None
        self._params: set[str] = set()
        self._new = False

    def open(self, identity: RunIdentity) -> dict[str, int]:
        scheme = self.section.tracking_uri.split(":", 1)[0].lower()
        if scheme == "file":
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        if scheme in ("http", "https"):
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=self.section.tracking_uri)
        experiment = self.client.get_experiment_by_name(self.section.experiment)
        if experiment is None:
            experiment_id = self.client.create_experiment(self.section.experiment)
        else:
            experiment_id = experiment.experiment_id
        found = self.client.search_runs(
            [experiment_id], filter_string=f"tags.`{UID_TAG}` = '{identity.uid}'", max_results=1
        )
        if found:
            run = found[0]
            if run.info.status != "RUNNING":
                self.client.update_run(run.info.run_id, status="RUNNING")
        else:
            tags = {UID_TAG: identity.uid, "evo.run": identity.name, "evo.run_id": str(identity.run_id)}
            run = self.client.create_run(experiment_id, tags=tags, run_name=identity.name)
            self._new = True
        self.run_id = run.info.run_id
        self._params = set(run.data.params)
        return {
            key: max(m.step for m in self.client.get_metric_history(self.run_id, key))
            for key in run.data.metrics
        }

    def log_run_start(self, params: dict[str, str], config_text: str) -> None:
        self._log_params(params)
        if self._new:
            self.client.log_text(self.run_id, config_text, "config.yaml")

    def log_metrics(self, step: int, walltime: float, metrics: dict[str, float]) -> None:
        from mlflow.entities import Metric

        timestamp = int(walltime * 1000)
        self.client.log_batch(
            self.run_id, metrics=[Metric(key, value, timestamp, step) for key, value in metrics.items()]
        )

    def end_generation(self) -> None:
        """Nothing to do: each ``log_batch`` is written when it returns."""

    def log_winner(self, winner: Winner, step: int, export_file: Path | None) -> None:
        hyper = winner.hyperparameters
        self.client.set_tag(self.run_id, "evo.winner.rule", winner.rule)
        self.client.set_tag(self.run_id, "evo.winner.hash", winner.genome.hash)
        self._log_params({f"winner.{k}": str(v) for k, v in hyper.items()})
        self.client.log_text(self.run_id, winner.rule + "\n", "winner/rule.txt")
        self.client.log_dict(self.run_id, hyper, "winner/genome.json")
        if export_file is not None:
            self.client.log_artifact(self.run_id, str(export_file))

    def close(self, finished: bool) -> None:
        if self.client is not None and self.run_id is not None:
            self.client.set_terminated(self.run_id, "FINISHED" if finished else "KILLED")
            self.run_id = None

    def _log_params(self, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        new = [Param(k, v) for k, v in params.items() if k not in self._params]
        for start in range(0, len(new), BATCH):
            self.client.log_batch(self.run_id, params=new[start : start + BATCH])
        self._params.update(p.key for p in new)
