"""The installable package: its name and version, ``-h``, a user's module that shadows one of
our top-level packages, and ``pip install`` into a fresh virtual environment.

The install test builds the distribution from a copy of only what pyproject.toml packages
(the four import packages), into a new venv whose site-packages reaches the heavy
dependencies through a ``.pth`` line (so nothing is downloaded), then runs the installed
``evo`` console script from a folder outside the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
from cli_helpers import evo

from evo.api.version import DISTRIBUTION, package_version
from evo.cli.app import app
from optimizers import export

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PACKAGED = ("pyproject.toml", "README.md", "evo", "workers", "optimizers", "storage")


def run_python(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **env}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=120
    )


def test_the_distribution_name_and_version_are_one_everywhere(capsys) -> None:
    assert PYPROJECT["name"] == DISTRIBUTION == export.DISTRIBUTION != "evo"
    assert package_version() == PYPROJECT["version"]
    code, out, _ = evo(capsys, "--version")
    assert code == 0 and out.strip() == f"evo {PYPROJECT['version']} (distribution {DISTRIBUTION})"


@pytest.mark.parametrize("command", [[], *[[c.name or c.callback.__name__] for c in app.registered_commands]])
def test_dash_h_is_help_on_the_app_and_every_command(capsys, command: list[str]) -> None:
    long_code, long_help, _ = evo(capsys, *command, "--help")
    code, short_help, err = evo(capsys, *command, "-h")
    assert code == long_code == 0, err
    assert short_help == long_help and "Usage: evo" in short_help


SHADOWS = {
    "optimizers.py": "optimizers",
    "storage.py": "storage",
    "workers.py": "workers",
    "workers/__init__.py": "workers",
}


@pytest.mark.parametrize("shadow", list(SHADOWS))
def test_a_users_module_named_like_our_package_is_one_line_not_a_traceback(tmp_path, shadow) -> None:
    """``python -m evo`` puts the current folder first on sys.path: a user's file there is refused."""
    (tmp_path / shadow).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / shadow).write_text("# the user's own module\n")
    db = f"sqlite:///{tmp_path / 'evo.db'}"
    done = run_python(["-m", "evo", "best", "quick", "--db", db], cwd=tmp_path)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert str(tmp_path / shadow.removesuffix("/__init__.py")) in lines[0]
    assert f"evo's package {SHADOWS[shadow]!r}" in lines[0]
    assert not (tmp_path / "evo.db").exists()

    probe = "import evo\ntry:\n    evo.open\nexcept ImportError as e:\n    print(e)"
    api = run_python(["-c", probe], tmp_path)
    assert api.returncode == 0 and "Traceback" not in api.stderr, api.stderr
    assert api.stdout.count("\n") == 1 and f"evo's package {SHADOWS[shadow]!r}" in api.stdout


def test_the_same_folder_without_the_clash_runs(tmp_path) -> None:
    (tmp_path / "my_optimizers.py").write_text("# not a clash\n")
    done = run_python(["-m", "evo", "--version"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"evo {PYPROJECT['version']} (distribution {DISTRIBUTION})"


TINY_QUICK = [
    "executor.kind=inline", "tasks=[two_moons]", "fixed_entries=[adam]", "population.size=4",
    "population.elites=1", "population.tournament_k=2", "population.generations=1",
    "evaluation.steps=5", "evaluation.seeds=[0]",
]  # fmt: skip


@pytest.mark.slow
def test_pip_install_into_a_fresh_venv_runs_the_quick_job(tmp_path) -> None:
    source, venv, job = tmp_path / "source", tmp_path / "venv", tmp_path / "job"
    source.mkdir()
    for name in PACKAGED:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(site, "reach_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"OMP_NUM_THREADS": "1"}
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps",
         "--no-build-isolation", "--disable-pip-version-check", str(source)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    assert list(Path(site).glob(f"{DISTRIBUTION.replace('-', '_')}-*.dist-info"))

    job.mkdir()
    shutil.copy(ROOT / "configs" / "quick.yaml", job / "quick.yaml")
    script = venv / "bin" / "evo"
    version = subprocess.run([script, "--version"], cwd=job, env=env, capture_output=True, text=True)
    assert version.stdout.strip() == f"evo {PYPROJECT['version']} (distribution {DISTRIBUTION})"
    where = subprocess.run([python, "-c", "import evo, storage; print(evo.__file__, storage.__file__)"],
                           cwd=job, env=env, capture_output=True, text=True)  # fmt: skip
    assert all(Path(p).is_relative_to(Path(site)) for p in where.stdout.split()), where.stdout
    url = f"sqlite:///{job / 'evo.db'}"
    done = subprocess.run([script, "run", "quick.yaml", *TINY_QUICK, "--db", url], cwd=job, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "run 'quick' finished" in done.stderr
    best = subprocess.run([script, "best", "quick", "--db", url, "--json"], cwd=job, env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert best.returncode == 0 and '"label": "adam"' in best.stdout, best.stderr
