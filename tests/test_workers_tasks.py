"""The task registry, landscapes, models, devices and the data check."""

from __future__ import annotations

import math
import platform

import pytest
import torch
from workers_datafiles import write_cifar10_like, write_mnist_like

from workers import TASKS, MissingDataError, UnknownTaskError, WorkerError, check_data, resolve_device
from workers.errors import DeviceUnavailableError
from workers.process import configure_worker_process
from workers.tasks.landscape_models import MLP9, Point, place_at, pretrain_to_point
from workers.tasks.landscapes import LANDSCAPES
from workers.tasks.models import build_model, cifar_cnn, small_cnn

LANDSCAPE_NAMES = ("ackley", "rastrigin", "rosenbrock", "six_hump_camel", "qubic_1d")
CLASSIFICATION_NAMES = ("mnist", "fashion_mnist", "cifar10", "two_moons", "digits")
FAMILY_KINDS = {
    "char_gru": "language_model", "sort_transformer": "sequence", "sort_transformer_long": "sequence",
    "diabetes_mlp": "regression", "digits_autoencoder": "autoencoder", "logreg_illcond": "convex",
    "logreg_illcond_1e4": "convex", "friedman_mlp": "regression",
}  # fmt: skip


def test_registry_holds_exactly_the_agreed_names():
    expected = (
        set(CLASSIFICATION_NAMES)
        | {f"{f}_{m}" for f in LANDSCAPE_NAMES for m in ("direct", "overparam")}
        | set(FAMILY_KINDS)
    )
    assert set(TASKS) == expected


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_describes_itself(name):
    task = TASKS[name]
    assert task.name == name
    expected_kind = "classification" if name in CLASSIFICATION_NAMES else "landscape"
    assert task.kind == FAMILY_KINDS.get(name, expected_kind)
    assert task.needs_data_dir == (name in ("mnist", "fashion_mnist", "cifar10"))
    assert task.description and "\n" not in task.description


@pytest.mark.parametrize("name", sorted(LANDSCAPES))
def test_landscape_minimum_is_the_documented_value_and_stationary(name):
    land = LANDSCAPES[name]
    for minimizer in land.minimizers:
        x = torch.tensor(minimizer, dtype=torch.float64, requires_grad=True)
        value = land.fn(x)
        (grad,) = torch.autograd.grad(value, x)
        assert float(value.detach()) == pytest.approx(land.f_min, abs=1e-8)
        assert float(grad.abs().max()) < 1e-5
    # random points are never below the minimum
    probe = torch.randn(2000, land.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 2
    assert float(land.fn(probe).min()) >= land.f_min - 1e-9


def test_ackley_gradient_is_finite_at_the_minimum():
    x = torch.zeros(1, requires_grad=True)
    LANDSCAPES["ackley"].fn(x).backward()
    assert torch.isfinite(x.grad).all()


def test_qubic_start_is_the_seeds_local_minimum():
    land = LANDSCAPES["qubic_1d"]
    assert float(land.fn(torch.tensor([0.9601496]))) == pytest.approx(-0.70585, abs=1e-5)
    assert land.start == (0.96,)


def test_model_building_uses_only_the_given_generator():
    before = torch.random.get_rng_state()
    a = build_model(small_cnn, torch.Generator().manual_seed(5))
    b = build_model(small_cnn, torch.Generator().manual_seed(5))
    c = build_model(small_cnn, torch.Generator().manual_seed(6))
    assert torch.equal(torch.random.get_rng_state(), before)
    for (name, pa), pb, pc in zip(a.named_parameters(), b.parameters(), c.parameters(), strict=True):
        assert torch.equal(pa, pb), name
        assert not torch.equal(pa, pc), name
    # default-init bounds: |W| <= 1/sqrt(fan_in) for Kaiming-uniform with a = sqrt(5)
    first = a[0].weight.detach()
    assert float(first.abs().max()) <= 1 / math.sqrt(9) + 1e-6


def test_cnn_output_shapes():
    assert build_model(small_cnn, torch.Generator())(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert build_model(cifar_cnn, torch.Generator())(torch.zeros(3, 3, 32, 32)).shape == (3, 10)


@pytest.mark.parametrize(("weight_norm", "count"), [(False, 1_839_617), (True, 1_843_585)])
def test_mlp9_full_size_matches_the_seed_parameter_count(weight_norm, count):
    with torch.device("meta"):
        model = MLP9(128, 1, 512, weight_norm=weight_norm)
    assert sum(p.numel() for p in model.parameters()) == count


@pytest.mark.parametrize("weight_norm", [False, True])
def test_mlp9_is_placed_exactly_at_its_start(weight_norm):
    model = build_model(lambda: MLP9(8, 2, 32, weight_norm=weight_norm), torch.Generator().manual_seed(0))
    start = torch.tensor([2.0, -1.5])
    with torch.no_grad():
        assert not torch.allclose(model(), start.view(1, 2), atol=0.1)
        place_at(model, start, pretrain=False)
        assert torch.allclose(model(), start.view(1, 2), atol=1e-5)
    point = build_model(lambda: Point(2), torch.Generator())
    place_at(point, start)
    assert torch.equal(point(), start.view(1, 2))


def test_pretraining_reaches_the_seeds_tolerance_and_moves_every_layer():
    model = build_model(lambda: MLP9(4, 1, 16), torch.Generator().manual_seed(0))
    before = [p.detach().clone() for p in model.parameters()]
    steps = pretrain_to_point(model, torch.tensor([1.0]))
    assert 0 < steps < 3000
    with torch.no_grad():
        assert float((model() - 1.0) ** 2) < 1e-6
    assert all(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))


def test_resolve_device():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(WorkerError, match="unknown device"):
        resolve_device("gpu please")
    with pytest.raises(WorkerError, match="unsupported device"):
        resolve_device("meta")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_a_clear_error():
    with pytest.raises(DeviceUnavailableError, match="CUDA is not available"):
        resolve_device("cuda")


def test_check_data_unknown_task_lists_known_ones(tmp_path):
    with pytest.raises(UnknownTaskError, match=r"unknown task 'mnsit'.*mnist.*qubic_1d_overparam"):
        check_data(["digits", "mnsit"], str(tmp_path))


def test_check_data_needs_no_files_for_builtin_data(tmp_path):
    check_data(["digits", "two_moons", "rastrigin_overparam"], str(tmp_path / "nowhere"))


@pytest.mark.parametrize(
    ("task", "folder", "klass"),
    [("mnist", "MNIST/raw", "MNIST"), ("fashion_mnist", "FashionMNIST/raw", "FashionMNIST"),
     ("cifar10", "cifar-10-batches-py", "CIFAR10")],
)  # fmt: skip
def test_missing_data_error_says_where_what_and_how(tmp_path, task, folder, klass):
    with pytest.raises(MissingDataError) as info:
        check_data([task], str(tmp_path))
    message = str(info.value)
    assert "\n" not in message
    assert str(tmp_path / folder) in message
    assert ("train-images-idx3-ubyte" if klass != "CIFAR10" else "data_batch_1") in message
    assert f"import {klass}" in message and "download=True" in message


def test_check_data_passes_once_files_exist_and_names_the_missing_one(tmp_path):
    write_mnist_like(tmp_path, "MNIST", n_train=20, n_test=5)
    write_cifar10_like(tmp_path, per_batch=2, n_test=2)
    check_data(["mnist", "cifar10"], str(tmp_path))
    (tmp_path / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(MissingDataError, match=r"missing test_batch;"):
        check_data(["mnist", "cifar10"], str(tmp_path))


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_worker_process_configuration_keeps_threads_unless_asked():
    threads = torch.get_num_threads()
    assert configure_worker_process(None, tune_malloc=True) == {"threads": threads, "malloc_tuned": True}
    assert configure_worker_process(threads, tune_malloc=False) == {"threads": threads, "malloc_tuned": False}
