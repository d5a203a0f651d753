"""Users' tasks by import path: the protocol, both training paths, caching, the config form,
and the built-in tabular family written with the protocol (bit-identical to its family form).

The user's module is written into a temporary folder outside the checkout and put on
``sys.path``, as a user's project would be on ``PYTHONPATH``.
"""

from __future__ import annotations

import textwrap
from functools import partial

import pytest
import torch

from evo.config.schema import parse_config
from evo.config.task_items import TaskKey, custom_tasks
from evo.execution.inline import InlineExecutor
from evo.runner.driver import Driver, create_run
from optimizers.baselines import ADAM, EVO_SEED_BEST
from storage import Store
from workers import EntrySpec, EvalRequest, evaluate
from workers.families.common import FamilySpec, SupervisedData, family_runtime
from workers.families.tabular import RegressionMLP, diabetes_mlp, regression_score, squared_error
from workers.population.loop import train_population
from workers.sequential import train_sequential
from workers.tasks.registry import TASKS
from workers.tasks.runtime import Score
from workers.tasks.user_tasks import CustomTask, checked, load_task

MODULE = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, hidden, norm):
        super().__init__()
        norms = [nn.BatchNorm1d(hidden)] if norm else []
        self.net = nn.Sequential(nn.Linear(4, hidden), *norms, nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, x):
        return self.net(x).squeeze(-1)


class Task:
    def __init__(self, hidden, norm, source, direction):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(300, 4, generator=g)
        y = torch.sin(x @ torch.tensor([1.0, -2.0, 0.5, 0.0])) + 0.1 * torch.randn(300, generator=g)
        self.hidden, self.norm, self.direction = hidden, norm, direction
        self.train = self.draw if source else (x[:200], y[:200])
        self.validation, self.test = (x[200:250], y[200:250]), (x[250:], y[250:])
        self.batch_size, self.divergence_bound = 16, 100.0

    def draw(self, generator, batch_size):
        x = torch.randn(batch_size, 4, generator=generator, device=generator.device)
        return x, torch.sin(x @ torch.tensor([1.0, -2.0, 0.5, 0.0]))

    def model(self):
        return Net(self.hidden, self.norm)

    def loss(self, outputs, targets):
        return (outputs - targets) ** 2

    def score(self, outputs, targets):
        mse = float(((outputs - targets) ** 2).mean())
        if self.direction == "maximize":
            return max(0.0, 1.0 - mse), {"mse": mse}
        return mse


CALLS = []


def make(hidden=8, norm=False, source=False, direction="minimize"):
    CALLS.append(hidden)
    return Task(hidden, norm, source, direction)
"""


@pytest.fixture
def user_module(tmp_path_factory, monkeypatch):
    """``user_tasks_<n>.py`` in a fresh folder on sys.path; returns its module name."""
    folder = tmp_path_factory.mktemp("project")
    name = f"user_tasks_{folder.name.replace('-', '_')}"
    (folder / f"{name}.py").write_text(textwrap.dedent(MODULE))
    monkeypatch.syspath_prepend(str(folder))
    return name


def spec(module: str, name: str = "reg", **kwargs) -> CustomTask:
    return CustomTask.model_validate({"import": f"{module}:make", "name": name, "kwargs": kwargs})


def request(
    task: CustomTask, path: str = "auto", genomes=(ADAM, EVO_SEED_BEST), steps: int = 8
) -> EvalRequest:
    return EvalRequest(
        request_id="r", entries=[EntrySpec.of_genome(g) for g in genomes], task=task.key, custom_task=task,
        seeds=[0, 1], steps=steps, path=path, device="cpu",
    )  # fmt: skip


# -- the built-in family written with the protocol ---------------------------------------------
def test_tabular_protocol_task_trains_bit_identical_to_its_family_form():
    """diabetes_mlp through the protocol runtime == the same pieces through the FamilySpec runtime."""
    task = diabetes_mlp()

    def data(split):
        return SupervisedData(*task.train, *(task.validation if split == "val" else task.test))

    family = FamilySpec(
        name="diabetes_mlp", kind="regression", description="", model_factory=partial(RegressionMLP, 10, 128),
        data=data, loss=squared_error, score=lambda o, t: Score(*regression_score(o, t)), batch_size=32,
        population_on_cpu=True,
    )  # fmt: skip
    cpu = torch.device("cpu")
    for split in ("val", "test"):
        protocol, reference = (
            TASKS["diabetes_mlp"].runtime("", split, cpu),
            family_runtime(family, split, cpu),
        )
        for genome, seed in ((ADAM, 0), (EVO_SEED_BEST, 1)):
            factory = partial(_genome_optimizer, genome)
            a, b = (
                train_sequential(protocol, factory, seed, 12),
                train_sequential(reference, factory, seed, 12),
            )
            assert (a.losses, a.accuracy, a.extra) == (b.losses, b.accuracy, b.extra)
        a_pop = train_population(protocol, [ADAM, EVO_SEED_BEST], [1, 0], 12)
        b_pop = train_population(reference, [ADAM, EVO_SEED_BEST], [1, 0], 12)
        assert [(m.losses, m.accuracy, m.extra) for m in a_pop] == [
            (m.losses, m.accuracy, m.extra) for m in b_pop
        ]


def _genome_optimizer(genome, params, _generator):
    from optimizers.genome_optimizer import GenomeOptimizer

    return GenomeOptimizer(params, genome, total_steps=12, foreach=False)


# -- paths ------------------------------------------------------------------------------------
@pytest.mark.parametrize("source", [False, True], ids=["tensors", "batch source"])
def test_user_task_takes_the_population_path_and_agrees_with_the_sequential_one(user_module, source):
    task = spec(user_module, source=source)
    assert checked(task)[1].path == "population"
    auto, sequential = evaluate(request(task)), evaluate(request(task, "sequential"))
    assert auto.path == "population" and sequential.path == "sequential"
    for pop, seq in zip(auto.members, sequential.members, strict=True):
        assert pop.status == seq.status == "ok"
        assert pop.final_loss == pytest.approx(seq.final_loss, rel=1e-4, abs=1e-6)
        assert pop.accuracy == pytest.approx(seq.accuracy, rel=1e-4)
        assert 0 < pop.accuracy <= 1 and pop.extra["score"] == pytest.approx(1 / pop.accuracy - 1)
    assert auto.members[0].final_loss != auto.members[1].final_loss  # seeds differ
    assert auto.members[0].final_loss != auto.members[2].final_loss  # genomes differ


def test_model_with_batch_statistics_trains_sequentially_and_says_why(user_module):
    task = spec(user_module, norm=True)
    check = checked(task)[1]
    assert check.path == "sequential" and "BatchNorm1d" in check.reason
    result = evaluate(request(task))
    assert result.path == "sequential" and all(m.status == "ok" for m in result.members)


def test_maximized_score_is_the_accuracy_with_its_metrics(user_module):
    result = evaluate(request(spec(user_module, direction="maximize"), genomes=(ADAM,)))
    member = result.members[0]
    assert member.accuracy == pytest.approx(max(0.0, 1 - member.extra["mse"]))
    assert "score" not in member.extra


# -- config, key and cache --------------------------------------------------------------------
def job(module: str, **extra) -> dict:
    return {
        "seed": 3,
        "tasks": ["qubic_1d_direct", {"import": f"{module}:make", "name": "reg", "kwargs": {"hidden": 6}}],
        "holdout_tasks": [{"import": f"{module}:make", "name": "reg_wide", "kwargs": {"hidden": 12}}],
        "evaluation": {"steps": 6, "seeds": [0], "genomes_per_request": 4, "device": "cpu"},
        "population": {"size": 4, "elites": 1, "tournament_k": 2, "generations": 2},
        "fixed_entries": ["adam"],
        "holdout": {"top_k": 1},
        "executor": {"kind": "inline", "max_retries": 0},
        **extra,
    }


def test_config_keeps_the_mapping_and_keys_the_task_by_name_and_hash(user_module):
    cfg = parse_config(job(user_module))
    key = cfg.tasks[1]
    assert isinstance(key, TaskKey) and key.startswith("reg@") and len(key) == len("reg@") + 8
    dumped = cfg.model_dump(mode="json")
    assert dumped["tasks"][1] == {"import": f"{user_module}:make", "name": "reg", "kwargs": {"hidden": 6}}
    again = parse_config(dumped)
    assert again.tasks == cfg.tasks and again.model_dump(mode="json") == dumped
    assert set(custom_tasks(cfg)) == {key, cfg.holdout_tasks[0]}
    assert spec(user_module, hidden=6).key == key
    assert spec(user_module, hidden=7).key != key  # kwargs are in the key
    assert spec(user_module, "other", hidden=6).key.split("@")[1] == key.split("@")[1]  # the name only labels


MEMBERS: list[tuple[str, int]] = []
CRASH_AT: list[int] = []


class Crash(BaseException):
    """Stands for the driver's process dying (not an evaluation error: nothing catches it)."""


def counting_evaluate(req: EvalRequest):
    if CRASH_AT and len(MEMBERS) >= CRASH_AT[0]:
        raise Crash
    result = evaluate(req)
    MEMBERS.extend((req.task, len(req.entries) * len(req.seeds)) for _ in [0])
    return result


def members() -> int:
    return sum(n for _, n in MEMBERS)


def test_second_run_and_resume_evaluate_nothing_stored(user_module, tmp_path):
    """A second run of the same job evaluates nothing; a run killed mid-way resumes with only
    the evaluations it had not stored (member counts add up to one uninterrupted run)."""
    cfg = parse_config(job(user_module))
    store = Store(f"sqlite:///{tmp_path / 'evo.db'}")
    MEMBERS.clear(), CRASH_AT.clear()
    with InlineExecutor(max_retries=0, evaluate=counting_evaluate) as executor:
        Driver(store, create_run(store, cfg, "first"), executor).run()
        full = members()
        assert {t for t, _ in MEMBERS if "@" in t} == {cfg.tasks[1], cfg.holdout_tasks[0]}
        again = parse_config(job(user_module))  # as a second `evo run` would
        Driver(store, create_run(store, again, "second"), executor).run()
        assert members() == full and store.get_run("second").status == "finished"

    fresh = Store(f"sqlite:///{tmp_path / 'fresh.db'}")
    MEMBERS.clear()
    CRASH_AT.append(2)
    with InlineExecutor(max_retries=0, evaluate=counting_evaluate) as executor:
        with pytest.raises(Crash):
            Driver(fresh, create_run(fresh, cfg, "killed"), executor).run()
        before = members()
        assert 0 < before < full
        CRASH_AT.clear()
        Driver(fresh, fresh.get_run("killed"), executor).run()
    assert members() == full
    assert fresh.get_run("killed").status == "finished"


def test_the_factory_runs_once_per_process_and_task_key(user_module):
    import importlib

    module = importlib.import_module(user_module)
    calls = len(module.CALLS)
    for _ in range(3):
        load_task(spec(user_module, hidden=5))
        load_task({"import": f"{user_module}:make", "name": "reg", "kwargs": {"hidden": 5}})
    assert len(module.CALLS) == calls + 1


def test_ray_ships_the_users_module_and_nothing_installed(user_module):
    """What ``ray.init(runtime_env={"py_modules": ...})`` gets: the user's file, not torch or evo."""
    import sys

    from evo.execution.ray_pool import users_runtime_env
    from workers.tasks.user_tasks import module_path

    load_task(spec(user_module, hidden=4))
    shipped = users_runtime_env()["runtime_env"]["py_modules"]
    assert sys.modules[user_module].__file__ in shipped
    assert module_path("torch") is None and module_path("workers") is None and module_path("json") is None
