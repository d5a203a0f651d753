"""Bring your own optimizer: ``fixed_entries`` items ``{import, name, kwargs}``.

Bad items fail at config load (one line, exit 2, database byte-identical); a good one is
scored like the built-in opaque entries, keyed ``name@hash`` (stable across runs, so a
second run reuses its cache), shown by its name, and scores exactly what training the
class directly through the sequential path scores.
"""

from __future__ import annotations

import pytest
import torch
import yaml
from cli_helpers import evo, fingerprint

from evo.config.schema import parse_config
from evo.evidence.ranking import best
from evo.execution.inline import InlineExecutor
from evo.runner.driver import Driver, create_run, fixed_entries
from evo.runner.events import RunObserver
from optimizers.custom import CustomOptimizer
from storage import Store
from workers.evaluate import _member_result
from workers.sequential import train_sequential
from workers.tasks.registry import get_task

SGD_PLAIN = {"import": "torch.optim:SGD", "name": "sgd_plain", "kwargs": {"lr": 0.01}}
TINY = {
    "seed": 5,
    "tasks": ["qubic_1d_direct", "six_hump_camel_direct"],
    "evaluation": {"steps": 8, "seeds": [0, 1], "genomes_per_request": 4, "device": "cpu"},
    "population": {"size": 4, "elites": 1, "tournament_k": 2, "generations": 1},
    "fixed_entries": ["adam", SGD_PLAIN],
    "executor": {"kind": "inline", "max_retries": 0},
}




def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle.lower() in lines[0].lower(), lines[0]


def custom(**item: object) -> dict:
    return {"import": "torch.optim:SGD", "name": "mine", **item}


BAD_ITEMS = {
    "module not importable": (
        custom(**{"import": "no_such_pkg.opt:MyOpt"}),
        ["cannot import", "no_such_pkg"],
    ),
    "no such class": (custom(**{"import": "torch.optim:NoSuchOpt"}), ["no attribute", "NoSuchOpt"]),
    "not an optimizer class": (custom(**{"import": "torch.nn:Linear"}), ["not a torch.optim.Optimizer"]),
    "not a class": (
        custom(**{"import": "custom_optimizers:NOT_AN_OPTIMIZER"}),
        ["not a torch.optim.Optimizer"],
    ),
    "not module:Class": (custom(**{"import": "torch.optim.SGD"}), ["module.path:ClassName"]),
    "unknown kwarg": (custom(kwargs={"lrr": 0.1}), ["bad kwargs", "lrr"]),
    "bad kwarg value (torch)": (custom(kwargs={"lr": -1.0}), ["bad kwargs", "learning rate"]),
    "kwarg of the wrong type": (custom(kwargs={"lr": "fast"}), ["bad kwargs"]),
    "bad kwarg value (user class)": (
        custom(**{"import": "custom_optimizers:ScaledSGD"}, kwargs={"scale": 0}),
        ["bad kwargs", "scale"],
    ),
    "registry name taken": (custom(name="adam"), ["registry name", "adam"]),
    "name listed twice": ([custom(name="sgd_plain"), SGD_PLAIN], ["listed twice", "sgd_plain"]),
    "bad name": (custom(name="two words"), ["name"]),
    "unknown key": (custom(kwarg={"lr": 0.1}), ["kwarg", "unknown key"]),
    "missing name": ({"import": "torch.optim:SGD"}, ["name"]),
}


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory):
    root = tmp_path_factory.mktemp("byo")
    db = root / "evo.db"
    Store(f"sqlite:///{db}").close()
    return root, db


@pytest.mark.parametrize("command", ["run", "compare"])
@pytest.mark.parametrize("case", list(BAD_ITEMS))
def test_bad_custom_entries_fail_at_config_load(capsys, empty_db, case, command) -> None:
    root, db = empty_db
    item, needles = BAD_ITEMS[case]
    items = item if isinstance(item, list) else ["adam", item]
    config = root / f"{case.replace(' ', '_')}.yaml"
    config.write_text(yaml.safe_dump({**TINY, "fixed_entries": items}))
    before = fingerprint(db)
    code, out, err = evo(capsys, command, config, "--db", f"sqlite:///{db}")
    assert_one_line_error(code, err, "fixed_entries", *needles)
    assert "Traceback" not in out + err
    assert fingerprint(db) == before


def test_yaml_floats_without_a_dot_are_numbers() -> None:
    """PyYAML reads ``3e-4`` as a string; a custom entry's kwargs read it as the float."""
    item = parse_config(
        {**TINY, "fixed_entries": [custom(kwargs=yaml.safe_load("{lr: 3e-4}"))]}
    ).fixed_entries[0]
    assert item.kwargs == {"lr": 3e-4}
    assert item.key == CustomOptimizer.model_validate(custom(kwargs={"lr": 0.0003})).key


def test_key_is_name_and_hash_of_import_and_kwargs() -> None:
    key = CustomOptimizer.model_validate(SGD_PLAIN).key
    name, _, digest = key.partition("@")
    assert name == "sgd_plain" and len(digest) == 8
    same = CustomOptimizer.model_validate({**SGD_PLAIN, "kwargs": {"lr": 0.01}})
    assert same.key == key
    assert CustomOptimizer.model_validate({**SGD_PLAIN, "kwargs": {"lr": 0.02}}).key != key
    assert CustomOptimizer.model_validate({**SGD_PLAIN, "import": "torch.optim:Adam"}).key != key
    assert CustomOptimizer.model_validate({**SGD_PLAIN, "name": "other"}).key.split("@")[1] == digest


class Rows(RunObserver):
    def __init__(self) -> None:
        self.keys: list[str] = []

    def evaluation_recorded(self, row) -> None:
        self.keys.append(row.entry_key)


def _run(store: Store, name: str, data: dict) -> tuple[Rows, object]:
    cfg = parse_config(data)
    run = create_run(store, cfg, name)
    rows = Rows()
    with InlineExecutor(max_retries=0) as executor:
        Driver(store, run, executor, rows).run()
    return rows, run


def test_custom_entry_is_scored_ranked_cached_and_equals_plain_sgd(tmp_path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'evo.db'}"
    store = Store(url)
    key = CustomOptimizer.model_validate(SGD_PLAIN).key
    first, run = _run(store, "first", TINY)
    per_entry = len(TINY["tasks"]) * len(TINY["evaluation"]["seeds"])
    assert first.keys.count(key) == per_entry

    second, _ = _run(store, "second", TINY)
    assert key not in second.keys  # same config, same key: the cache answers

    ranked = {e.label: e for e in best(store, run.id, top_k=None) if e.is_fixed}
    assert ranked["sgd_plain"].entry_key == key and ranked["sgd_plain"].complete

    steps = TINY["evaluation"]["steps"]
    stored = {(r.task, r.seed): r.fitness for r in store.evaluations([key], parse_config(TINY).budget_key)}
    direct = {}
    for task_name in TINY["tasks"]:
        task = get_task(task_name)
        runtime = task.runtime("./data", "val", torch.device("cpu"))
        for seed in TINY["evaluation"]["seeds"]:
            outcome = train_sequential(runtime, lambda p, _g: torch.optim.SGD(p, lr=0.01), seed, steps)
            direct[(task_name, seed)] = _member_result(key, seed, outcome).fitness
    assert stored == direct
    store.close()

    code, out, err = evo(capsys, "best", "first", "--db", url)
    assert code == 0, err
    assert "sgd_plain" in out and "@" not in out


def test_fixed_entries_spec_carries_the_class_for_the_worker() -> None:
    item = CustomOptimizer.model_validate(SGD_PLAIN)
    rows, specs = fixed_entries(["adam", item])
    assert rows[1].label == "sgd_plain" and rows[1].genome is None and rows[1].entry_key == item.key
    assert specs[item.key].custom == item and specs[item.key].fixed is None
