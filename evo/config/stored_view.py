"""A stored run's config, read back: the full job config, or one light typed view.

A run stores its job config as the JSON dump of :class:`evo.config.schema.JobConfig`.
:func:`stored_config` re-validates it through the full schema (the driver, resume, the GA's
own ranking of a finished run). Read commands (``evo runs``, ``evo best``, ``evo export``,
``evo report``) need only a few fields and must not import the training stack the full
schema's checks need, so they read it through :func:`stored_view`: the fields below, typed,
and where a stored config lacks one (it was written before the field existed) the default a
new run gets (:mod:`evo.config.defaults`, which the schema uses too). Other keys are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from evo.config import defaults
from evo.errors import ConfigError

if TYPE_CHECKING:
    from evo.config.schema import JobConfig
    from storage.records import RunRecord


class _View(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _absent_section(cls, data: Any) -> Any:
        return {} if data is None else data


class StoredEvaluation(_View):
    """The ``evaluation`` section's fields read commands use."""

    steps: int = Field(defaults.DEFAULT_STEPS, ge=1)
    lr_multipliers: tuple[float, ...] = defaults.DEFAULT_LR_MULTIPLIERS
    lr_aggregate: str = defaults.DEFAULT_LR_AGGREGATE


class StoredPopulation(_View):
    """The ``population`` section's fields read commands use."""

    size: int = Field(defaults.DEFAULT_POPULATION, ge=1)
    generations: int = Field(defaults.DEFAULT_GENERATIONS, ge=1)
    init: str = defaults.DEFAULT_INIT


class StoredFitness(_View):
    """The ``fitness`` section's fields read commands use."""

    normalize: str = defaults.DEFAULT_NORMALIZE


class StoredConfig(_View):
    """The typed view of a stored config (see the module docstring)."""

    evaluation: StoredEvaluation = Field(default_factory=StoredEvaluation)
    population: StoredPopulation = Field(default_factory=StoredPopulation)
    fitness: StoredFitness = Field(default_factory=StoredFitness)


def stored_view(config: Mapping[str, Any] | None, run_name: str = "") -> StoredConfig:
    """The typed view of ``config`` (a run's stored config, or a ``JobConfig`` dumped).

    Raises:
        ConfigError: a field it reads has a value of the wrong type (a damaged row).
    """
    try:
        return StoredConfig.model_validate(dict(config or {}))
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        run = f" of run {run_name!r}" if run_name else ""
        raise ConfigError(f"the stored config{run} has an unreadable {where}: {error['msg']}") from None


def stored_config(run: RunRecord, values: dict[str, object] | None = None) -> JobConfig:
    """The job config ``run`` was created with, ``values`` (dotted key -> value) set on it.

    Imports the full schema (and with it the training stack), unlike :func:`stored_view`.

    Raises:
        ConfigError: it no longer validates (one line naming the field).
    """
    from evo.config.schema import parse_config

    return parse_config(run.config, source=f"the stored config of run {run.name!r}", values=values)
