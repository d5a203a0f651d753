"""Job configs: the shipped YAML files, overrides, and one-line errors for every bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from evo.config.schema import (
    DEFAULT_FIXED_ENTRIES,
    JobConfig,
    PopulationConfig,
    apply_overrides,
    load_config,
    parse_config,
)
from evo.errors import ConfigError, EvoError
from optimizers.registry import REGISTRY
from workers.requests import budget_key
from workers.tasks.registry import TASKS

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
MINIMAL = {"tasks": ["digits"]}


def write(tmp_path: Path, text: str, name: str = "job.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- the shipped configs ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["quick", "seed_vision", "landscapes"])
def test_shipped_configs_load_and_name_known_tasks(name: str) -> None:
    cfg = load_config(CONFIGS / f"{name}.yaml")
    assert cfg.name == name
    assert set(cfg.tasks) <= set(TASKS)
    assert set(cfg.fixed_entries) <= set(REGISTRY)
    raw = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    assert cfg.model_dump(exclude_unset=True).keys() == raw.keys()  # nothing silently dropped


def test_quick_yaml_is_a_small_cpu_run_on_a_local_ray_cluster() -> None:
    cfg = load_config(CONFIGS / "quick.yaml")
    assert cfg.executor.kind == "ray" and cfg.executor.address is None
    assert cfg.executor.gpus_per_actor == 0 and cfg.evaluation.device == "cpu"
    assert {"digits", "two_moons"} <= set(cfg.tasks)
    landscapes = [t for t in cfg.tasks if TASKS[t].kind == "landscape"]
    assert len(landscapes) == 2
    assert not any(TASKS[t].needs_data_dir for t in cfg.tasks)
    assert 12 <= cfg.population.size <= 16 and cfg.population.generations <= 10
    assert len(cfg.evaluation.seeds) == 2


def test_seed_vision_yaml_is_the_seed_setup() -> None:
    cfg = load_config(CONFIGS / "seed_vision.yaml")
    assert sorted(cfg.tasks) == ["cifar10", "fashion_mnist", "mnist"]
    assert cfg.population == PopulationConfig(
        size=50, elites=3, tournament_k=4, generations=50, fix_crossover_bias=False
    )
    assert (cfg.evaluation.steps, cfg.evaluation.seeds, cfg.seed) == (500, [0, 1], 42)
    assert cfg.executor.gpus_per_actor not in (0, "auto") and cfg.evaluation.device.startswith("cuda")
    assert cfg.evaluation.selection_split == "val"
    assert "selection_split=test" in (CONFIGS / "seed_vision.yaml").read_text()  # the reproduce option
    test_split = load_config(CONFIGS / "seed_vision.yaml", ["evaluation.selection_split=test"])
    assert test_split.budget_key != cfg.budget_key


def test_landscapes_yaml_has_only_analytic_functions() -> None:
    cfg = load_config(CONFIGS / "landscapes.yaml")
    assert {TASKS[t].kind for t in cfg.tasks} == {"landscape"}
    assert set(cfg.tasks) == {name for name, task in TASKS.items() if task.kind == "landscape"}


# -- the model ----------------------------------------------------------------------------


def all_models(model: type[BaseModel]) -> list[type[BaseModel]]:
    found = [model]
    for field in model.model_fields.values():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found += all_models(annotation)
    return found


def test_every_field_has_a_one_line_description() -> None:
    models = all_models(JobConfig)
    assert len(models) == 9  # job + data, evaluation, population, holdout, fitness, executor, storage,
    # tracking
    for model in models:
        for name, field in model.model_fields.items():
            assert field.description and "\n" not in field.description, f"{model.__name__}.{name}"


def test_defaults_are_the_seed_values() -> None:
    cfg = parse_config(MINIMAL)
    assert cfg.seed == 42 and cfg.evaluation.steps == 500 and cfg.evaluation.seeds == [0, 1]
    assert cfg.population == PopulationConfig()
    assert cfg.fixed_entries == list(DEFAULT_FIXED_ENTRIES)
    assert cfg.executor.kind == "ray" and cfg.storage.url == "sqlite:///runs/evo.db"
    assert cfg.budget_key == budget_key(500, "val")


def test_config_round_trips_through_its_json_dump() -> None:
    cfg = load_config(CONFIGS / "quick.yaml", ["executor.gpus_per_actor=auto"])
    assert JobConfig.model_validate(cfg.model_dump(mode="json")) == cfg


# -- overrides ----------------------------------------------------------------------------


def test_overrides_are_parsed_as_yaml_and_validated_like_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "tasks: [digits]\npopulation: {size: 20}\n")
    cfg = load_config(
        path,
        [
            "population.size=32",
            "evaluation.seeds=[0, 1, 2]",
            "tasks=[two_moons, rosenbrock_direct]",
            "executor.address=127.0.0.1:6379",
            "executor.gpus_per_actor=0.5",
            "evaluation.device=auto",
            "population.fix_crossover_bias=true",
            "name=override-me",
        ],
    )
    assert cfg.population.size == 32 and cfg.evaluation.seeds == [0, 1, 2]
    assert cfg.tasks == ["two_moons", "rosenbrock_direct"]
    assert cfg.executor.address == "127.0.0.1:6379" and cfg.executor.gpus_per_actor == 0.5
    assert cfg.population.fix_crossover_bias is True and cfg.name == "override-me"
    assert load_config(path, ["executor.address=null"]).executor.address is None
    inline = load_config(path, ["executor.kind=inline", "evaluation.device=cuda"])  # no Ray: no GPU share
    assert inline.evaluation.device == "cuda" and inline.executor.gpus_per_actor == 0


def test_apply_overrides_does_not_touch_its_input() -> None:
    data = {"tasks": ["digits"], "population": {"size": 10}}
    out = apply_overrides(data, ["population.size=12", "executor.num_actors=3"])
    assert data == {"tasks": ["digits"], "population": {"size": 10}}
    assert out == {"tasks": ["digits"], "population": {"size": 12}, "executor": {"num_actors": 3}}


# -- errors: one line, naming the field ---------------------------------------------------

BAD_OVERRIDES = [
    (["population.size=1"], "population.size"),
    (["population.sizee=3"], "population.sizee: unknown key"),
    (["colour=blue"], "colour: unknown key"),
    (["population.elites=60"], "elites (60) must be smaller than size (50)"),
    (["population.tournament_k=60"], "tournament_k (60) must not exceed size"),
    (["tasks=[]"], "tasks"),
    (["tasks=[digits, nope]"], "unknown task 'nope'"),
    (["tasks=[digits, digits]"], "listed twice: digits"),
    (["fixed_entries=[adam, nope]"], "unknown optimizer 'nope'"),
    (["evaluation.seeds=[0, 0]"], "seeds must be distinct"),
    (["evaluation.seeds=[-1]"], "seeds must be >= 0"),
    (["evaluation.steps=0"], "evaluation.steps"),
    (["evaluation.steps=1.5"], "evaluation.steps"),
    (["evaluation.selection_split=train"], "evaluation.selection_split"),
    (["evaluation.device=gpu"], "expected auto, cpu, cuda or cuda:N"),
    (["evaluation.device=cuda"], "gpus_per_actor is 0"),
    (["executor.gpus_per_actor=lots"], "must be a number >= 0 or 'auto'"),
    (["executor.gpus_per_actor=-1"], "must be >= 0"),
    (["executor.gpus_per_actor=1.5"], "whole number"),
    (["executor.kind=slurm"], "executor.kind"),
    (["executor.num_actors=0"], "executor.num_actors"),
    (["executor.cpus_per_actor=0"], "executor.cpus_per_actor"),
    (["executor.max_retries=-1"], "executor.max_retries"),
    (["storage.url=runs.db"], "SQLAlchemy URL"),
    (["seed=-3"], "seed"),
    (["name=has space"], "name"),
    (["population=3"], "population"),
]


@pytest.mark.parametrize(("overrides", "expected"), BAD_OVERRIDES)
def test_bad_values_raise_one_line_config_errors(overrides: list[str], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(MINIMAL, overrides, source="job.yaml")
    message = str(info.value)
    assert expected in message and message.startswith("job.yaml: ")
    assert "\n" not in message and "pydantic" not in message
    assert isinstance(info.value, EvoError)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("population.size", "expected key.sub=value"),
        ("=3", "expected key.sub=value"),
        ("population..size=3", "expected key.sub=value"),
        ("evaluation.seeds=[0, 1", "value is not valid YAML"),
        ("tasks.first=3", "tasks is a value, not a section"),
    ],
)
def test_malformed_overrides_raise_config_errors(override: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected.replace("[", r"\[")) as info:
        parse_config(MINIMAL, [override])
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tasks: [digits\n", "invalid YAML"),
        ("- digits\n", "expected a mapping"),
        ("tasks: [digits]\ntasks: [two_moons]\n", "key 'tasks' given twice"),
        ("tasks: [digits]\npopulation:\n  size: 8\n  size: 9\n", "key 'size' given twice"),
        ("", "tasks: Field required"),
        ("tasks: [digits]\nexecutor:\n  cpus_per_actr: 2\n", "executor.cpus_per_actr: unknown key"),
    ],
)
def test_bad_files_raise_one_line_config_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=expected) as info:
        load_config(path)
    assert "\n" not in str(info.value)
    assert path.read_text() == text  # nothing written


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path)  # a directory
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00tasks")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(binary)
