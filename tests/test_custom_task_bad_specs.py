"""Bad custom-task specs: each is one stderr line naming the task, exit 2, database unchanged.

``evo run`` (in-process, ``evo.cli.app.main``) on a config whose ``tasks:`` holds one bad
``{import: ..., name: ..., kwargs: ...}`` item, against a database that already holds a
finished run. The user's modules live in a temporary folder on ``sys.path``. Every case
fails when the config loads (import, signature, protocol attributes, the trial
forward/backward and score of :mod:`workers.tasks.task_check`), before anything is written.
"""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import pytest
import yaml
from tiny_job import TINY

from evo.cli.app import main

MODULE = """
import torch
from torch import nn


class Task:
    def __init__(self, **changes):
        x = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))
        y = x.sum(1)
        self.train, self.validation, self.test = (x[:20], y[:20]), (x[20:30], y[20:30]), (x[30:], y[30:])
        self.batch_size, self.direction, self.divergence_bound = 8, "minimize", 100.0
        self.width = 3
        self.__dict__.update(changes)

    def model(self):
        return nn.Sequential(nn.Linear(self.width, 1), nn.Flatten(0))

    def loss(self, outputs, targets):
        return (outputs - targets) ** 2

    def score(self, outputs, targets):
        return float(((outputs - targets) ** 2).mean())


def ok(width=3):
    return Task(width=width)


NOT_CALLABLE = 42


def raises():
    raise RuntimeError("the data file is missing")


def returns_none():
    return None


def without_bound():
    task = Task()
    del task.divergence_bound
    return task


def sideways():
    return Task(direction="sideways")


def no_batch():
    return Task(batch_size=0)


def mean_loss():
    task = Task()
    task.loss = lambda outputs, targets: ((outputs - targets) ** 2).mean()
    return task


def nan_loss():
    task = Task()
    task.loss = lambda outputs, targets: (outputs - targets) * float("nan")
    return task


def detached_loss():
    task = Task()
    task.loss = lambda outputs, targets: (outputs.detach() - targets) ** 2
    return task


def not_a_module():
    task = Task()
    task.model = lambda: "a model"
    return task


def big_accuracy():
    task = Task(direction="maximize")
    task.score = lambda outputs, targets: 87.5
    return task


def ragged():
    task = Task()
    task.train = (task.train[0], task.train[1][:5])
    return task


def wrong_width():
    return Task(width=5)


def score_raises():
    task = Task()
    task.score = lambda outputs, targets: {"mse": 1.0}["accuracy"]
    return task
"""

JOB = {**TINY, "evaluation": {**TINY["evaluation"], "steps": 3}}

M = "bad_specs_tasks"
BAD_SPECS: dict[str, tuple[dict, str]] = {
    "module missing": ({"import": "no_such_module_xyz:make"}, "cannot import module 'no_such_module_xyz'"),
    "module fails on import": ({"import": "bad_specs_broken:make"}, "ZeroDivisionError"),
    "attribute missing": ({"import": f"{M}:nope"}, "has no attribute 'nope'"),
    "not module:factory": ({"import": M}, "module:factory"),
    "not callable": ({"import": f"{M}:NOT_CALLABLE"}, "is not callable"),
    "unknown kwarg": ({"import": f"{M}:ok", "kwargs": {"widht": 3}}, "bad kwargs"),
    "factory raises": ({"import": f"{M}:raises"}, "the data file is missing"),
    "returns None": ({"import": f"{M}:returns_none"}, "NoneType without model"),
    "no divergence_bound": ({"import": f"{M}:without_bound"}, "without divergence_bound"),
    "bad direction": ({"import": f"{M}:sideways"}, "direction must be"),
    "batch_size 0": ({"import": f"{M}:no_batch"}, "batch_size must be"),
    "loss not per example": ({"import": f"{M}:mean_loss"}, "one loss per example"),
    "loss not finite": ({"import": f"{M}:nan_loss"}, "not finite"),
    "loss without gradient": ({"import": f"{M}:detached_loss"}, "no gradient"),
    "model not a module": ({"import": f"{M}:not_a_module"}, "torch.nn.Module"),
    "maximized score beyond 1": ({"import": f"{M}:big_accuracy"}, "[0, 1]"),
    "ragged training pair": ({"import": f"{M}:ragged"}, "same number"),
    "forward fails": ({"import": f"{M}:wrong_width"}, "forward or loss failed"),
    "score raises": ({"import": f"{M}:score_raises"}, "score failed"),
    "unknown spec key": ({"import": f"{M}:ok", "kwarg": {}}, "kwarg"),
    "registry name": ({"import": f"{M}:ok", "name": "digits"}, "registry task"),
    "kwargs not JSON": ({"import": f"{M}:ok", "kwargs": {"width": {1, 2}}}, "plain JSON"),
}


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.db*"))}


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> dict:
    """A folder with the user's modules and a database holding a finished run."""
    root = tmp_path_factory.mktemp("bad_specs")
    (root / f"{M}.py").write_text(textwrap.dedent(MODULE))
    (root / "bad_specs_broken.py").write_text("RATE = 1 / 0\n")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(JOB))
    try:
        main(["run", str(config), "--db", f"sqlite:///{root / 'evo.db'}"])
    except SystemExit as exc:
        assert not exc.code
    return {"root": root}


def test_there_are_at_least_ten_bad_specs() -> None:
    assert len(BAD_SPECS) >= 10


@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_bad_custom_task_is_one_line_naming_it_exit_2_database_unchanged(ws, case, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(ws["root"]))
    item, expected = BAD_SPECS[case]
    item = {"name": "my_task", **item}
    job = {**JOB, "tasks": ["qubic_1d_direct", item]}
    config = ws["root"] / "bad.yaml"
    config.write_text(yaml.dump(job))  # yaml.dump: a set stays a (non-JSON) set
    before = _digest(ws["root"])
    try:
        main(["run", str(config), "--db", f"sqlite:///{ws['root'] / 'evo.db'}"])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), err[-2000:]
    assert item["name"] in lines[0] and expected in lines[0], lines[0]
    assert "Traceback" not in err
    assert _digest(ws["root"]) == before
