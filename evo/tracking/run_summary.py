"""What a tracker logs once per run: who the run is, its config, and at the end its winner.

* :class:`RunIdentity`: a stable identity of an evo run across resumes (its name and
  creation time in the store), which finds the tracker's run again;
* :func:`config_params`: the job config as flat ``section.field`` parameters;
* :func:`find_winner`: the genome ``evo export`` writes by default (the GA's rank 1,
  :func:`evo.evidence.search_order.ranked_genomes`), its canonical rule as one line and its
  hyperparameters; :func:`export_winner` writes it as ``evo export`` does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evo.config.schema import JobConfig
    from optimizers.genome import Genome
    from storage import Store
    from storage.records import RunRecord

PARAM_VALUE_LENGTH = 6000
"""Longest parameter value MLflow keeps; longer values (long lists) are cut."""
EXPORT_FILE = "evolved_optimizer.py"
_CREDENTIALS = re.compile(r"(://[^:/@\s]+:)[^@/\s]+@")
"""``scheme://user:password@`` in a URL: the password is never logged."""


@dataclass(frozen=True)
class RunIdentity:
    """An evo run as trackers name it: ``name``, and ``uid`` (``name@created-at``, unique)."""

    name: str
    run_id: int
    uid: str
    stamp: str
    """Creation time as ``YYYYmmddTHHMMSS``, for a folder name."""

    @classmethod
    def of(cls, run: RunRecord) -> RunIdentity:
        return cls(
            name=run.name,
            run_id=run.id,
            uid=f"{run.name}@{run.created_at.isoformat()}",
            stamp=run.created_at.strftime("%Y%m%dT%H%M%S"),
        )


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """Nested mappings as ``a.b.c`` keys; lists and scalars as their JSON text (passwords in
    URLs masked)."""
    if isinstance(value, dict) and (value or not prefix):
        flat: dict[str, str] = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    text = value if isinstance(value, str) else json.dumps(value)
    return {prefix: _CREDENTIALS.sub(r"\1***@", text)[:PARAM_VALUE_LENGTH]}


def config_params(cfg: JobConfig) -> dict[str, str]:
    """The job config as ``section.field -> value`` text (every field, defaults included)."""
    return flatten(cfg.model_dump(mode="json"))


def config_text(cfg: JobConfig) -> str:
    """The job config as YAML (passwords in URLs masked)."""
    import yaml

    return _CREDENTIALS.sub(r"\1***@", yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))


@dataclass(frozen=True)
class Winner:
    """The run's best evolved genome (as ``evo export`` writes it) and what trackers show of it."""

    genome: Genome
    fitness: float

    @property
    def rule(self) -> str:
        """The canonical update rule as one line (``evo show``'s ``canonical:`` line)."""
        return self.genome.canonical().describe()

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """The canonical genome's lr, betas, eps, weight decay, flags, terms and weights."""
        g = self.genome.canonical()
        data = g.to_seed_dict()
        data.update(lr=g.lr, eps=g.eps, weight_decay=g.weight_decay, hash=g.hash)
        data["term_types"] = [t.name for t in g.term_types]
        return data


def find_winner(store: Store, run: RunRecord) -> Winner | None:
    """The genome ``evo export RUN`` writes (the GA's rank 1), or None before any was scored."""
    from evo.evidence.search_order import ranked_genomes

    ranked = ranked_genomes(store, run, "search")
    if not ranked:
        return None
    return Winner(genome=ranked[0].genome, fitness=ranked[0].fitness)


def export_winner(store: Store, run: RunRecord, cfg: JobConfig, winner: Winner, folder: Path) -> Path:
    """Write the winner as a standalone optimizer file in ``folder`` (``evo export``'s content)."""
    from evo.evidence.known_rule import class_name_for
    from evo.evidence.provenance import run_provenance
    from evo.report.optimizer_file import write_optimizer_file

    provenance = run_provenance(store, run, winner.genome)
    return write_optimizer_file(
        winner.genome, folder / EXPORT_FILE, class_name=class_name_for(winner.genome),
        total_steps=cfg.evaluation.steps, provenance=provenance,
    )  # fmt: skip
