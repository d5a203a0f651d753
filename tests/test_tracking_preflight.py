"""A tracking backend that cannot work is refused before the run writes anything.

Each bad ``tracking:`` section goes through ``evo run`` (and one through ``evo resume``) in
process against a real database holding a run: exit status 2, one ``error:`` line naming
the field, no traceback, the database byte-identical and no tracking folder created.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from cli_helpers import evo, fingerprint
from tiny_job import TINY

from evo.config.schema import parse_config
from evo.runner.driver import create_run
from storage import Store


def bad_sections(tmp: Path) -> dict[str, tuple[dict, str]]:
    """name -> (tracking section, text the error line must contain)."""
    afile = tmp / "a-file"
    return {
        "tensorboard dir under a file": (
            {"tensorboard": {"dir": str(afile / "tb")}},
            "tracking.tensorboard.dir",
        ),
        "mlflow file: store under a file": (
            {"mlflow": {"tracking_uri": (afile / "mlruns").as_uri()}},
            "tracking.mlflow.tracking_uri",
        ),
        "mlflow file: store is a file": ({"mlflow": {"tracking_uri": afile.as_uri()}}, "is a file"),
        "mlflow sqlite: store under a file": (
            {"mlflow": {"tracking_uri": f"sqlite:///{afile}/mlflow.db"}},
            "tracking.mlflow.tracking_uri",
        ),
        "mlflow server not answering": (
            {"mlflow": {"tracking_uri": "http://127.0.0.1:9"}},
            "no MLflow server answers",
        ),
        "mlflow unknown scheme": (
            {"mlflow": {"tracking_uri": "ftp://host/mlruns"}},
            "tracking.mlflow.tracking_uri",
        ),
        "mlflow without a scheme": ({"mlflow": {"tracking_uri": "mlruns"}}, "tracking.mlflow.tracking_uri"),
        "unknown backend": ({"wandb": {}}, "tracking.wandb"),
    }


@pytest.fixture
def database(tmp_path) -> str:
    (tmp_path / "a-file").write_text("a file where a folder should be\n")
    url = f"sqlite:///{tmp_path / 'evo.db'}"
    with Store(url) as store:
        create_run(store, parse_config(TINY), "r")
    return url


def assert_refused(code: int, out: str, err: str, needle: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], err
    assert "Traceback" not in out + err


@pytest.mark.parametrize("case", list(bad_sections(Path("/x"))))
def test_bad_tracking_is_one_line_before_anything_is_written(tmp_path, database, capsys, case) -> None:
    section, needle = bad_sections(tmp_path)[case]
    config = tmp_path / "job.yaml"
    config.write_text(yaml.safe_dump({**TINY, "tracking": section}))
    before = fingerprint(tmp_path / "evo.db")
    assert_refused(*evo(capsys, "run", config, "--db", database, "--name", "r"), needle)
    assert fingerprint(tmp_path / "evo.db") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "evo.db", "job.yaml"]


@pytest.mark.parametrize("package", ["tensorboard", "mlflow"])
def test_a_missing_package_names_the_extra_to_install(
    tmp_path, database, capsys, monkeypatch, package
) -> None:
    monkeypatch.setitem(sys.modules, package, None)  # what `import package` sees when it is not installed
    config = tmp_path / "job.yaml"
    config.write_text(yaml.safe_dump({**TINY, "tracking": {package: {}}}))
    before = fingerprint(tmp_path / "evo.db")
    assert_refused(*evo(capsys, "run", config, "--db", database, "--name", "r"), f"evo[{package}]")
    assert fingerprint(tmp_path / "evo.db") == before


def test_resume_checks_the_stored_tracking_section(tmp_path, capsys) -> None:
    """A run stored with a TensorBoard folder that has since become unusable is not resumed."""
    url = f"sqlite:///{tmp_path / 'evo.db'}"
    with Store(url) as store:
        create_run(
            store, parse_config({**TINY, "tracking": {"tensorboard": {"dir": str(tmp_path / "tb")}}}), "r"
        )
    (tmp_path / "tb").write_text("now a file\n")
    before = fingerprint(tmp_path / "evo.db")
    assert_refused(*evo(capsys, "resume", "r", "--db", url), "tracking.tensorboard.dir")
    assert fingerprint(tmp_path / "evo.db") == before
