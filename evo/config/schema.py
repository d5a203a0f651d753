"""Job configs: YAML files validated by pydantic, with ``key.sub=value`` overrides.

A job config says what to evolve on (tasks, data), how to score (steps, seeds, split),
how to search (population), what to compare against (fixed entries), where to run
(executor) and where to store (storage). Every field carries a one-line description;
unknown keys are rejected at every level::

    cfg = load_config("configs/quick.yaml", ["population.size=32", "evaluation.seeds=[0,1,2]"])
    GeneticAlgorithm(cfg.population)  # the GA's hyperparameters are this section
    cfg.budget_key                    # -> "steps=...;split=val;v1"

Override values are parsed as YAML (``population.size=32`` is an int, ``tasks=[digits]`` a
list, ``executor.address=null`` None) and validated exactly like the file; ``values`` (the
command line's ``--db``, ``--address``, ``--name``) set a dotted key to a value as given.
Everything is validated once, here: a config is parsed one time per command and the
:class:`JobConfig` object is passed along. The value rules (ranges, Ray's GPU amounts, task
and fixed-entry names, CUDA needing GPU actors) are checked only here; what depends on the
machine (data on disk, a local device, the cluster's resources) is checked by
``evo.runner.preflight`` and ``evo.execution.ray_session``. Every problem raises
:class:`evo.errors.ConfigError` with one line naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from evo.config import defaults
from evo.config.fixed_entries import FixedEntryItem, check_fixed_entries
from evo.config.funnel_rungs import FunnelRung, check_funnel, expand_step_list
from evo.config.source import apply_overrides, read_yaml
from evo.config.task_items import TaskItem, check_task_items
from evo.config.tracking import TrackingConfig
from evo.errors import ConfigError
from optimizers.errors import one_line

DEFAULT_FIXED_ENTRIES: tuple[str, ...] = ("sgd_momentum", "adam", "adamw", "rmsprop", "evo_seed_best")
"""The seed's comparison set: its four baselines and its published evolved genome."""

MAX_SEED = 2**63 - 1
"""Largest seed (GA or training): the store keeps seeds in signed 64-bit integers."""
MAX_STEPS = 10_000_000
MAX_SEEDS = 1_000
MAX_POPULATION = 100_000
MAX_GENERATIONS = 1_000_000
MAX_ACTORS = 10_000
MAX_RESOURCES = 1_024.0
"""Upper bounds of the numeric fields: far above any real job, low enough that every value
fits the store's integer columns and the workers' loops (a typo like 5e20 is refused)."""

_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Section):
    """Where the datasets live."""

    dir: str = Field("./data", min_length=1, description="Folder of the vision datasets.")
    download: bool = Field(False, description="Let torchvision download missing datasets (needs network).")


class EvaluationConfig(_Section):
    """How one genome is scored on one task."""

    steps: int = Field(
        defaults.DEFAULT_STEPS, ge=1, le=MAX_STEPS,
        description="Optimizer steps per training run (the paper's: 500).",
    )  # fmt: skip
    seeds: list[int] = Field(
        [0, 1], min_length=1, max_length=MAX_SEEDS, description="Training seeds per (genome, task)."
    )
    selection_split: Literal["val", "test"] = Field(
        "val", description="Split selection scores on: 'val' (held out of train) or 'test' (the paper's)."
    )
    genomes_per_request: int = Field(
        8, ge=1, le=MAX_POPULATION, description="Genomes per work item (trained together)."
    )
    device: str = Field("auto", description="Worker device: auto, cpu, cuda or cuda:N.")
    lr_multipliers: list[float] = Field(
        list(defaults.DEFAULT_LR_MULTIPLIERS),
        min_length=1,
        description="Train each genome at these multiples of its lr.",
    )
    lr_aggregate: Literal["best", "mean"] = Field(
        defaults.DEFAULT_LR_AGGREGATE,
        description="Task score over lr_multipliers: the best multiplier's, or the mean.",
    )
    fingerprint: bool = Field(
        False, description="Evaluate one genome per functional fingerprint; the others reuse its rows."
    )
    funnel: list[FunnelRung] | None = Field(
        None, min_length=1, description="Rungs of increasing cost new genomes climb; None: off."
    )
    lr_recentre: Literal["none", "geomean", "min"] = Field(
        "none", description="Breed from parents with lr re-centred on the training tasks."
    )

    @model_validator(mode="before")
    @classmethod
    def _step_list(cls, data: Any) -> Any:
        return expand_step_list(data)

    @model_validator(mode="after")
    def _recentre_needs_multipliers(self) -> EvaluationConfig:
        if self.lr_recentre != "none" and len(self.lr_multipliers) < 2:
            raise ValueError("lr_recentre needs at least two lr_multipliers")
        return self

    @field_validator("lr_multipliers")
    @classmethod
    def _positive_distinct_multipliers(cls, values: list[float]) -> list[float]:
        return _check_multipliers(values)

    @field_validator("device")
    @classmethod
    def _known_device(cls, device: str) -> str:
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
            raise ValueError(f"expected auto, cpu, cuda or cuda:N, got {device!r}")
        return device

    @field_validator("seeds")
    @classmethod
    def _distinct_non_negative(cls, seeds: list[int]) -> list[int]:
        if any(s < 0 or s > MAX_SEED for s in seeds):
            raise ValueError(f"seeds must be >= 0 and < 2**63, got {seeds}")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct, got {seeds}")
        return seeds


class PopulationConfig(_Section):
    """The genetic algorithm's hyperparameters (the paper's: 50, 3, 4, 50); ``evo.search.ga`` runs on it."""

    size: int = Field(
        defaults.DEFAULT_POPULATION, ge=2, le=MAX_POPULATION, description="Individuals per generation."
    )
    elites: int = Field(3, ge=0, description="Fittest individuals copied unchanged (not re-evaluated).")
    tournament_k: int = Field(4, ge=1, description="Distinct contestants per tournament selection.")
    generations: int = Field(
        defaults.DEFAULT_GENERATIONS, ge=1, le=MAX_GENERATIONS,
        description="Generations to evaluate; also sets mutation annealing.",
    )
    fix_crossover_bias: bool = Field(
        False, description="Let crossover children have one term (the paper's code's always have >= 2)."
    )
    init: Literal["seeded", "random"] = Field(
        defaults.DEFAULT_INIT,
        description="Generation 0: the paper's four baselines plus random genomes, or random only.",
    )
    terms: Literal["seed", "extended", "scaled"] = Field(
        "seed",
        description="Term types random init and mutation draw: the paper's seven, also LION and NADAM, "
        "or also ORTHO and the trust-ratio flag (scaled).",
    )

    @model_validator(mode="after")
    def _fits_in_population(self) -> PopulationConfig:
        if self.elites >= self.size:
            raise ValueError(f"elites ({self.elites}) must be smaller than size ({self.size})")
        if self.tournament_k > self.size:
            raise ValueError(f"tournament_k ({self.tournament_k}) must not exceed size ({self.size})")
        return self


class FitnessConfig(_Section):
    """How task scores combine into the GA's fitness (formulas: :mod:`evo.search.normalize`)."""

    normalize: Literal["none", "reference", "rank"] = Field(
        defaults.DEFAULT_NORMALIZE,
        description="'none': mean of task scores (the paper's); 'reference' or 'rank': per task.",
    )
    reference: str = Field("adamw", description="Fixed entry that 'reference' measures against.")


class ExecutorConfig(_Section):
    """Where evaluations run."""

    kind: Literal["ray", "inline"] = Field("ray", description="'ray': actor pool; 'inline': in the driver.")
    num_actors: int = Field(2, ge=1, le=MAX_ACTORS, description="Evaluation actors in the Ray pool.")
    cpus_per_actor: float = Field(
        1.0, gt=0, le=MAX_RESOURCES, allow_inf_nan=False, description="CPUs Ray reserves per actor."
    )
    gpus_per_actor: float | Literal["auto"] = Field(
        0.0, description="GPUs per actor (0.25 packs four on one GPU); 'auto': a GPU share if any, else CPU."
    )
    max_retries: int = Field(
        2, ge=0, le=100, description="Retries of a raising evaluation, then stored failed."
    )
    threads_per_actor: int | None = Field(
        None, ge=1, le=1024, description="Torch threads per actor (and inline); None: one per CPU given."
    )
    address: str | None = Field(None, description="Ray cluster to join (e.g. 'head:6379'); None starts one.")

    @field_validator("gpus_per_actor", mode="before")
    @classmethod
    def _number_or_auto(cls, value: Any) -> Any:
        if isinstance(value, bool) or (isinstance(value, str) and value != "auto"):
            raise ValueError(f"must be a number >= 0 or 'auto', got {value!r}")
        return value

    @field_validator("gpus_per_actor")
    @classmethod
    def _ray_gpu_amount(cls, value: float | str) -> float | str:
        if isinstance(value, str):
            return value
        if not 0 <= value <= MAX_RESOURCES:
            raise ValueError(f"must be >= 0 and <= {MAX_RESOURCES:.0f}, or 'auto'; got {value}")
        if value > 1 and not float(value).is_integer():
            raise ValueError(f"must be a fraction <= 1 or a whole number (Ray's rule), got {value}")
        return value


class HoldoutConfig(_Section):
    """How held-out tasks are scored (:mod:`evo.runner.holdout_work`); they never steer selection."""

    top_k: int = Field(3, ge=1, description="Best genomes of each generation scored on the held-out tasks.")
    fixed_grid: bool = Field(
        True,
        description="Score every fixed_lr_grid point on the held-out tasks (false: entries at their own lr).",
    )


class StorageConfig(_Section):
    """Where results are stored."""

    url: str = Field("sqlite:///runs/evo.db", description="SQLAlchemy database URL (SQLite file by default).")

    @field_validator("url")
    @classmethod
    def _looks_like_url(cls, url: str) -> str:
        if "://" not in url:
            raise ValueError(f"expected an SQLAlchemy URL such as 'sqlite:///runs/evo.db', got {url!r}")
        return url


class JobConfig(_Section):
    """One evolution job."""

    name: str | None = Field(None, description="Run name: letters, digits, '.', '_', '-' (default: derived).")
    seed: int = Field(42, ge=0, le=MAX_SEED, description="The GA's random seed (the paper's: 42).")
    tasks: list[TaskItem] = Field(min_length=1, description="Registry names or {import: 'module:factory'}.")
    holdout_tasks: list[TaskItem] = Field(
        default_factory=list, description="Tasks scored for reports, never for selection."
    )
    holdout: HoldoutConfig = Field(default_factory=HoldoutConfig, description="Held-out scoring.")
    data: DataConfig = Field(default_factory=DataConfig, description="Dataset location.")
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig, description="Scoring budget.")
    population: PopulationConfig = Field(default_factory=PopulationConfig, description="GA hyperparameters.")
    fixed_entries: list[FixedEntryItem] = Field(
        list(DEFAULT_FIXED_ENTRIES),
        description="Registry names or {import: 'module:Class', name, kwargs} scored alongside the genomes.",
    )
    fixed_lr_grid: list[float] = Field(
        [1.0], min_length=1, description="lr multipliers each fixed entry is scored at (tuned per task)."
    )
    fitness: FitnessConfig = Field(default_factory=FitnessConfig, description="Fitness aggregation.")
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig, description="Evaluation executor.")
    storage: StorageConfig = Field(default_factory=StorageConfig, description="Result database.")
    tracking: TrackingConfig = Field(default_factory=TrackingConfig, description="Experiment trackers.")

    @field_validator("name")
    @classmethod
    def _usable_name(cls, name: str | None) -> str | None:
        if name is not None and not re.fullmatch(_NAME_PATTERN, name):
            raise ValueError(f"use 1-64 letters, digits, '.', '_', '-' (starting alphanumeric), got {name!r}")
        return name

    @field_validator("tasks", "holdout_tasks")
    @classmethod
    def _known_tasks(cls, tasks: list[str]) -> list[str]:
        return check_task_items(tasks)

    @field_validator("fixed_entries")
    @classmethod
    def _known_entries(cls, items: list[Any]) -> list[Any]:
        return check_fixed_entries(items)

    @field_validator("fixed_lr_grid")
    @classmethod
    def _grid_multipliers(cls, values: list[float]) -> list[float]:
        return _check_multipliers(values)

    @model_validator(mode="after")
    def _reference_is_fixed(self) -> JobConfig:
        labels = [e if isinstance(e, str) else e.name for e in self.fixed_entries]
        if self.fitness.normalize == "reference" and self.fitness.reference not in labels:
            raise ValueError(
                f"fitness.reference {self.fitness.reference!r} must be one of fixed_entries "
                f"({', '.join(labels)})"
            )
        return self

    @model_validator(mode="after")
    def _cuda_actors_reserve_gpus(self) -> JobConfig:
        gpus, device = self.executor.gpus_per_actor, self.evaluation.device
        if self.executor.kind == "ray" and device.startswith("cuda") and gpus == 0:
            raise ValueError(
                f"evaluation.device is {device!r} but executor.gpus_per_actor is 0: Ray hides GPUs from "
                "actors that reserve none; set gpus_per_actor > 0 or 'auto'"
            )
        return self

    @model_validator(mode="after")
    def _funnel_fits(self) -> JobConfig:
        if self.evaluation.funnel is not None:
            check_funnel(self.evaluation.funnel, self.tasks, self.evaluation.seeds, self.evaluation.steps)
        return self

    @model_validator(mode="after")
    def _holdout_disjoint(self) -> JobConfig:
        shared = [t for t in self.holdout_tasks if t in self.tasks]
        if shared:
            raise ValueError(f"holdout_tasks must not be training tasks; in both: {', '.join(shared)}")
        return self

    @property
    def budget_key(self) -> str:
        """Cache key of everything besides (entry, task, seed) that changes a score."""
        from workers.requests import budget_key

        return budget_key(self.evaluation.steps, self.evaluation.selection_split)

    @property
    def holdout_budget_key(self) -> str:
        """Cache key of the held-out evaluations: same steps, scored on the test split."""
        from workers.requests import HOLDOUT_SPLIT, budget_key

        return budget_key(self.evaluation.steps, HOLDOUT_SPLIT)


def _check_multipliers(values: list[float]) -> list[float]:
    if any(not (v > 0 and v < float("inf")) for v in values):
        raise ValueError(f"multipliers must be finite and > 0, got {values}")
    if len(set(values)) != len(values):
        raise ValueError(f"multipliers must be distinct, got {values}")
    return values


# -- loading ------------------------------------------------------------------------------


def _describe_error(error: Mapping[str, Any]) -> str:
    location = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] not in ("missing", "extra_forbidden", "value_error") and not isinstance(
        error.get("input"), dict | list
    ):
        message += f" (got {error.get('input')!r})"
    if error["type"] == "extra_forbidden":
        message = "unknown key (check the spelling; see evo/config/schema.py for the fields)"
    return f"{location}: {one_line(message)}" if location else one_line(message)


def parse_config(
    data: Mapping[str, Any],
    overrides: Sequence[str] = (),
    source: str = "config",
    values: Mapping[str, Any] | None = None,
) -> JobConfig:
    """Validate a config mapping (plus overrides and ``values``) into a :class:`JobConfig`.

    Raises:
        ConfigError: one line, ``<source>: <field.path>: <what is wrong>``.
    """
    merged = apply_overrides(data, overrides, values)
    try:
        return JobConfig.model_validate(merged)
    except ValidationError as exc:
        errors = exc.errors()
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(f"{source}: {_describe_error(errors[0])}{more}") from None


def load_config(
    path: str | Path, overrides: Sequence[str] = (), values: Mapping[str, Any] | None = None
) -> JobConfig:
    """Read a YAML job config, apply ``key.sub=value`` overrides (then ``values``) and validate.

    Raises:
        ConfigError: missing or unreadable file, invalid YAML, bad override syntax, unknown
            key, invalid value; the one-line message names the field.
    """
    return parse_config(read_yaml(path), overrides, source=str(path), values=values)
