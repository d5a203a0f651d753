"""Creating a run, and finding it again (its stored config: :func:`evo.config.stored_view.stored_config`).

A run may only be continued with a config that computes the same results: the parts that
change results (:data:`SEMANTIC_SECTIONS`) must be equal, after filling the sections a config
stored before they existed lacks with their defaults.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evo.config.schema import JobConfig
from evo.errors import RunConflictError
from storage.errors import UnknownRunError
from storage.records import RunRecord, RunScope

if TYPE_CHECKING:
    from storage import Store

SEMANTIC_SECTIONS = (
    "seed", "tasks", "evaluation", "population", "fixed_entries", "holdout_tasks", "holdout", "fixed_lr_grid",
    "fitness",
)
"""Config parts that change results; a run may only be resumed with these unchanged."""
DEFAULT_SECTIONS = {"holdout_tasks": [], "holdout": {"top_k": 3}}
"""Sections a config stored before they existed lacks: read as these (their defaults)."""
NON_SEMANTIC_EVALUATION_FIELDS = ("device", "genomes_per_request")


def semantic_config(config: dict) -> dict:
    """The parts of a config dump that change results (see :data:`SEMANTIC_SECTIONS`)."""
    picked = {k: config.get(k, DEFAULT_SECTIONS.get(k)) for k in SEMANTIC_SECTIONS}
    evaluation = dict(picked.get("evaluation") or {})
    for field in NON_SEMANTIC_EVALUATION_FIELDS:
        evaluation.pop(field, None)
    picked["evaluation"] = evaluation
    return picked


def find_run(store: Store, name: str, cfg: JobConfig | None = None) -> RunRecord | None:
    """The run called ``name``, or None; with ``cfg``, check it would compute the same.

    Raises:
        RunConflictError: the stored run's seed, tasks, evaluation budget, population or
            fixed entries differ from ``cfg``.
    """
    try:
        run = store.get_run(name)
    except UnknownRunError:
        return None
    if cfg is not None:
        stored = semantic_config(_with_defaults(run.config))
        wanted = semantic_config(cfg.model_dump(mode="json"))
        if stored != wanted:
            changed = sorted(k for k in stored if stored[k] != wanted[k])
            raise RunConflictError(
                f"run {name!r} already exists with a different {', '.join(changed)}; "
                f"choose another --name, or `evo resume {name}` to continue it as stored"
            )
    return run


def _with_defaults(config: dict) -> dict:
    """A stored config dump with the fields added since it was written at their defaults."""
    try:
        return JobConfig.model_validate(config).model_dump(mode="json")
    except ValueError:
        return config


def create_run(store: Store, cfg: JobConfig, name: str) -> RunRecord:
    """Register a new run (config, seed and the scope its cache lookups use)."""
    scope = RunScope(
        tasks=list(cfg.tasks), seeds=list(cfg.evaluation.seeds), budget_key=cfg.budget_key,
        holdout_tasks=list(cfg.holdout_tasks),
        holdout_budget_key=cfg.holdout_budget_key if cfg.holdout_tasks else None,
    )  # fmt: skip
    return store.create_run(name, cfg.model_dump(mode="json"), cfg.seed, scope)
