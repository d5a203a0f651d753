"""One typed view of a stored config: read commands read a run's config through
``evo.config.stored_view`` and, for a field the stored config lacks, get the schema's default."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import evo, fingerprint

from evo.config.schema import JobConfig
from evo.config.stored_view import StoredConfig, stored_view
from evo.errors import ConfigError
from optimizers.genome import Genome, Term
from storage import IndividualIn, RunScope, Store

GENOME = Genome(term_types=(Term.ADAM_TERM,), alphas=(1.0,), lr_log10=-2.0)


def test_a_missing_field_reads_as_the_schema_default() -> None:
    fresh = JobConfig(tasks=["two_moons"]).model_dump(mode="json")
    view = stored_view({})
    for section, fields in StoredConfig.model_fields.items():
        for name in fields.annotation.model_fields:
            value = getattr(getattr(view, section), name)
            expected = fresh[section][name]
            assert (list(value) if isinstance(value, tuple) else value) == expected, f"{section}.{name}"


def test_stored_values_are_read_as_stored() -> None:
    cfg = JobConfig.model_validate({
        "tasks": ["two_moons"],
        "evaluation": {"steps": 7, "lr_multipliers": [0.5, 1.0, 2.0], "lr_aggregate": "mean"},
        "population": {"size": 4, "elites": 1, "tournament_k": 2, "generations": 3, "init": "random"},
        "fitness": {"normalize": "rank"},
    })  # fmt: skip
    view = stored_view(cfg.model_dump(mode="json"))
    assert (view.evaluation.steps, view.evaluation.lr_multipliers, view.evaluation.lr_aggregate) == (
        7, (0.5, 1.0, 2.0), "mean"
    )  # fmt: skip
    assert (view.population.generations, view.population.init) == (3, "random")
    assert view.fitness.normalize == "rank"
    absent = stored_view({"population": None}).population
    assert absent.generations == JobConfig(tasks=["two_moons"]).population.generations


def test_a_damaged_field_is_one_config_error() -> None:
    with pytest.raises(ConfigError, match=r"run 'r' has an unreadable evaluation\.steps"):
        stored_view({"evaluation": {"steps": "many"}}, "r")


def _run_without_sections(db: Path) -> None:
    """A run whose stored config predates every section (as an old database holds)."""
    scope = RunScope(tasks=["t"], seeds=[0], budget_key="steps=5;split=val;v1")
    with Store(f"sqlite:///{db}") as store:
        run = store.create_run("old", {}, 0, scope)
        member = IndividualIn(slot=0, entry_key=GENOME.hash, genome=GENOME, origin="init")
        store.save_generation(run.id, 0, [member])


def test_runs_and_export_read_a_missing_field_as_its_default(tmp_path: Path, capsys) -> None:
    db = tmp_path / "old.db"
    _run_without_sections(db)
    before = fingerprint(db)
    defaults = JobConfig(tasks=["two_moons"])
    code, out, err = evo(capsys, "runs", "--db", f"sqlite:///{db}")
    assert code == 0, err
    assert f"0/{defaults.population.generations}" in out
    target = tmp_path / "old_export.py"
    code, _, err = evo(capsys, "export", "old", "--genome", GENOME.hash, "-o", target, "--db", f"sqlite:///{db}")
    assert code == 0, err
    assert f"total_steps={defaults.evaluation.steps}" in target.read_text()
    assert fingerprint(db) == before
