"""``workers.evaluate``: fitness, divergence, failures, fixed entries, seeds and errors."""

from __future__ import annotations

import pytest
import torch
from workers_datafiles import write_cifar10_like, write_mnist_like

from optimizers.baselines import ADAM, EVO_SEED_BEST, SGD_MOMENTUM
from optimizers.entry import FixedEntry
from optimizers.genome import Genome, Term
from optimizers.registry import REGISTRY
from workers import (
    EntrySpec,
    EvalRequest,
    MissingDataError,
    UnknownEntryError,
    UnknownTaskError,
    evaluate,
)
from workers.fitness import landscape_divergence_bound, landscape_score, mean_last_losses, seed_fitness
from workers.population.loop import train_population
from workers.tasks.datasets import MD5_ENV
from workers.tasks.registry import TASKS

DIVERGER = Genome(term_types=(Term.SIGN_GRAD,), alphas=(1.0,), lr_log10=1.0)


def request(task="digits", entries=(ADAM,), seeds=(0,), steps=5, **kw) -> EvalRequest:
    specs = [e if isinstance(e, EntrySpec) else EntrySpec.of_genome(e) for e in entries]
    return EvalRequest(
        request_id="r1", entries=specs, task=task, seeds=list(seeds), steps=steps, device="cpu", **kw
    )


def comparable(member):
    return member.model_dump(exclude={"wall_time_s"})


def test_fitness_formula_and_result_fields():
    result = evaluate(request(entries=(ADAM, SGD_MOMENTUM), seeds=(0, 1), steps=60))
    assert result.request_id == "r1" and result.task == "digits" and result.device == "cpu"
    assert result.budget_key == "steps=60;split=val;v1" and result.path == "population"
    assert ":" in result.worker and result.wall_time_s > 0
    assert [(m.entry_key, m.seed) for m in result.members] == [
        (ADAM.hash, 0), (ADAM.hash, 1), (SGD_MOMENTUM.hash, 0), (SGD_MOMENTUM.hash, 1),
    ]  # fmt: skip
    for m in result.members:
        assert m.status == "ok" and m.steps_done == 60 and m.error is None
        assert 0.0 <= m.accuracy <= 1.0
        assert m.fitness == pytest.approx(m.accuracy + 0.05 * max(0.0, 1.0 - m.mean_last_losses))
    adam = [m.accuracy for m in result.members[:2]]
    sgd = [m.accuracy for m in result.members[2:]]
    assert min(adam) > max(sgd)  # Adam at lr 1e-3 learns digits faster than EMA-SGD in 60 steps
    assert adam[0] != adam[1]  # seeds give different initialisations and data orders


def test_fitness_helpers():
    assert mean_last_losses([9.0] * 10 + [1.0] * 50) == 1.0
    assert mean_last_losses([]) is None
    assert seed_fitness(0.9, 0.2) == pytest.approx(0.94)
    assert seed_fitness(0.9, 3.0) == 0.9
    assert landscape_score(0.0) == 1.0 and landscape_score(float("nan")) == 0.0
    assert landscape_divergence_bound(1.0) == 50.0 and landscape_divergence_bound(20.0) == 200.0


@pytest.mark.parametrize("path", ["sequential", "population"])
def test_diverged_members_score_minus_one_and_leave_the_others_alone(path):
    alone = evaluate(request(entries=(ADAM,), seeds=(0,), steps=20, path=path)).members[0]
    mixed = evaluate(request(entries=(DIVERGER, ADAM), seeds=(0,), steps=20, path=path)).members
    diverged, adam = mixed
    assert diverged.status == "diverged" and diverged.fitness == -1.0
    assert 0 < diverged.steps_done < 20 and diverged.accuracy is None and diverged.mean_last_losses is None
    assert comparable(adam) == comparable(alone)


def test_landscape_divergence_uses_the_bound_relative_to_the_start():
    result = evaluate(request(task="rosenbrock_direct", entries=(DIVERGER, ADAM), seeds=(3,), steps=30))
    diverged, adam = result.members
    assert diverged.status == "diverged" and diverged.fitness == -1.0
    assert adam.status == "ok" and adam.accuracy == pytest.approx(1 / (1 + adam.extra["final_gap"]))
    assert adam.extra["distance_to_min"] > 0


def test_direct_six_hump_gradient_descent_stops_in_the_seeds_local_minimum():
    plain_gd = Genome(term_types=(Term.GRAD,), alphas=(1.0,), lr_log10=-2.0, wd_log10=-30.0)
    member = evaluate(request(task="six_hump_camel_direct", entries=(plain_gd,), steps=400)).members[0]
    # from (2, 2) into the local minimum (1.6071, 0.5687), f = 2.1043, as the seed's README found
    assert member.status == "ok"
    assert member.extra["final_value"] == pytest.approx(2.10425, abs=1e-4)
    assert member.extra["final_gap"] == pytest.approx(2.10425 + 1.03163, abs=1e-4)
    assert member.accuracy == pytest.approx(1 / (1 + member.extra["final_gap"]))
    nearest = ((1.6071 + 0.0898) ** 2 + (0.5687 - 0.7127) ** 2) ** 0.5  # the global minimum (-0.09, 0.71)
    assert member.extra["distance_to_min"] == pytest.approx(nearest, abs=1e-3)


def test_same_request_same_metrics_and_global_rng_untouched():
    before = torch.random.get_rng_state()
    first = evaluate(request(task="two_moons", entries=(EVO_SEED_BEST,), seeds=(0, 1), steps=8))
    second = evaluate(request(task="two_moons", entries=(EVO_SEED_BEST,), seeds=(0, 1), steps=8))
    assert torch.equal(torch.random.get_rng_state(), before)
    assert [comparable(m) for m in first.members] == [comparable(m) for m in second.members]


@pytest.mark.parametrize("task", ["digits", "rastrigin_overparam"])
def test_population_member_is_independent_of_its_co_members_and_chunking(task):
    runtime = TASKS[task].runtime("unused", "val", torch.device("cpu"))
    alone = train_population(runtime, [EVO_SEED_BEST], [1], 6)[0]
    crowd = train_population(runtime, [ADAM, EVO_SEED_BEST, SGD_MOMENTUM], [0, 1, 1], 6, chunk_size=2)[1]
    assert alone.losses == crowd.losses and alone.accuracy == crowd.accuracy


def test_fixed_genome_entry_equals_the_same_genome():
    by_name = evaluate(
        request(entries=(EntrySpec(key="adam", fixed="adam"),), seeds=(0,), steps=6, path="sequential")
    )
    by_genome = evaluate(request(entries=(ADAM,), seeds=(0,), steps=6, path="sequential"))
    assert by_name.members[0].model_dump(exclude={"wall_time_s", "entry_key"}) == by_genome.members[
        0
    ].model_dump(exclude={"wall_time_s", "entry_key"})


def test_opaque_entry_trains_sequentially_and_a_broken_one_fails_alone(monkeypatch):
    monkeypatch.setitem(
        REGISTRY, "torch_sgd", FixedEntry("torch_sgd", torch.optim.SGD, {"lr": 0.1, "momentum": 0.9})
    )
    monkeypatch.setitem(REGISTRY, "bad_sgd", FixedEntry("bad_sgd", torch.optim.SGD, {"lr": -1.0}))
    entries = (EntrySpec(key="torch_sgd", fixed="torch_sgd"), EntrySpec(key="bad_sgd", fixed="bad_sgd"), ADAM)
    result = evaluate(request(task="two_moons", entries=entries, seeds=(0,), steps=10))
    sgd, bad, adam = result.members
    assert result.path == "population"  # the genome member; opaque ones always go sequential
    assert sgd.entry_key == "torch_sgd" and sgd.status == "ok" and sgd.steps_done == 10
    assert bad.status == "failed" and bad.fitness == -1.0 and "Invalid learning rate" in bad.error
    assert adam.status == "ok"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("training-data")
    write_mnist_like(root, "MNIST", n_train=40, n_test=10)
    write_mnist_like(root, "FashionMNIST", n_train=40, n_test=10)
    write_cifar10_like(root, per_batch=8, n_test=10)
    return str(root)


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_task_trains_and_scores(task, data_dir, monkeypatch):
    monkeypatch.setenv(MD5_ENV, "0")
    result = evaluate(request(task=task, entries=(ADAM,), seeds=(0,), steps=2, data_dir=data_dir))
    (member,) = result.members
    assert member.status == "ok" and member.steps_done == 2
    assert 0.0 <= member.accuracy <= 1.0 and member.final_loss is not None
    assert member.fitness == pytest.approx(member.accuracy + 0.05 * max(0.0, 1.0 - member.mean_last_losses))
    assert result.path == ("population" if TASKS[task].population_on_cpu else "sequential")


def test_selection_on_the_test_split_is_a_separate_budget():
    val = evaluate(request(entries=(ADAM,), steps=5))
    test = evaluate(request(entries=(ADAM,), steps=5, selection_split="test"))
    assert val.budget_key == "steps=5;split=val;v1" and test.budget_key == "steps=5;split=test;v1"
    assert val.members[0].final_loss == test.members[0].final_loss  # same training subset and run
    assert val.members[0].accuracy != test.members[0].accuracy  # scored on other examples


def test_bad_requests_raise_worker_errors(tmp_path):
    with pytest.raises(UnknownTaskError, match="unknown task 'mnist2'"):
        evaluate(request(task="mnist2"))
    with pytest.raises(UnknownEntryError, match=r"unknown optimizer entry 'adamx'.*adam"):
        evaluate(request(entries=(EntrySpec(key="adamx", fixed="adamx"),)))
    with pytest.raises(MissingDataError, match="mnist data not found"):
        evaluate(request(task="mnist", data_dir=str(tmp_path)))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_paths_agree():
    common = {"task": "digits", "entries": (ADAM, EVO_SEED_BEST), "seeds": (0, 1), "steps": 20}
    seq = evaluate(request(**common, path="sequential").model_copy(update={"device": "cuda"}))
    pop = evaluate(request(**common, path="population").model_copy(update={"device": "cuda"}))
    assert seq.device.startswith("cuda") and pop.path == "population"
    for a, b in zip(seq.members, pop.members, strict=True):
        assert a.status == b.status
        assert b.final_loss == pytest.approx(a.final_loss, rel=1e-3)
