"""Data loading through torchvision's classes from real file formats, splits, batches."""

from __future__ import annotations

import pytest
import torch
from torchvision import transforms
from torchvision.datasets import MNIST
from torchvision.transforms import functional as TF
from workers_datafiles import write_cifar10_like, write_mnist_like

from workers import MissingDataError
from workers.batches import BatchCursor, flip_and_crop
from workers.tasks.datasets import FILE_DATASETS, MD5_ENV, clear_cache, load_classification, split_indices

CPU = torch.device("cpu")


@pytest.fixture
def no_md5(monkeypatch):
    monkeypatch.setenv(MD5_ENV, "0")


def test_split_is_fixed_disjoint_and_sized():
    train, val = split_indices(60_000, "mnist")
    again_train, again_val = split_indices(60_000, "mnist")
    assert torch.equal(train, again_train) and torch.equal(val, again_val)
    assert len(train) == 15_000 and len(val) == 5_000
    assert not set(train.tolist()) & set(val.tolist())
    small_train, small_val = split_indices(100, "mnist")
    assert len(small_train) == 80 and len(small_val) == 20


@pytest.mark.parametrize("folder", ["MNIST", "FashionMNIST"])
def test_idx_files_load_normalised_like_torchvision_transforms(tmp_path, folder):
    write_mnist_like(tmp_path, folder, n_train=100, n_test=30)
    name = "mnist" if folder == "MNIST" else "fashion_mnist"
    spec = FILE_DATASETS[name]
    data = load_classification(name, tmp_path, "val", CPU)
    assert data.x_train.shape == (80, 1, 28, 28) and data.x_eval.shape == (20, 1, 28, 28)
    assert data.y_train.dtype == torch.int64

    raw = MNIST(str(tmp_path), train=True) if folder == "MNIST" else None
    if raw is not None:  # the seed's pipeline: ToTensor + Normalize on PIL images
        pipeline = transforms.Compose([transforms.ToTensor(), transforms.Normalize(spec.mean, spec.std)])
        train_idx, _ = split_indices(100, name)
        for row in (0, 17, 79):
            image, label = raw[int(train_idx[row])]
            assert torch.allclose(pipeline(image), data.x_train[row], atol=1e-6)
            assert label == int(data.y_train[row])

    test = load_classification(name, tmp_path, "test", CPU)
    assert test.x_eval.shape == (30, 1, 28, 28)  # the whole test file
    assert torch.equal(test.x_train, data.x_train)  # training subset independent of the split


def test_cached_per_process_and_stable_after_reload(tmp_path):
    write_mnist_like(tmp_path, "MNIST", n_train=50, n_test=10)
    first = load_classification("mnist", tmp_path, "val", CPU)
    assert load_classification("mnist", tmp_path, "val", CPU) is first
    clear_cache()
    second = load_classification("mnist", tmp_path, "val", CPU)
    assert second is not first and torch.equal(second.x_train, first.x_train)


def test_cifar10_pickles_load_with_md5_check_off(tmp_path, no_md5):
    write_cifar10_like(tmp_path, per_batch=20, n_test=10)
    data = load_classification("cifar10", tmp_path, "val", CPU)
    assert data.x_train.shape == (80, 3, 32, 32) and data.x_eval.shape == (20, 3, 32, 32)
    spec = FILE_DATASETS["cifar10"]
    assert torch.allclose(data.pad_value, -torch.tensor(spec.mean) / torch.tensor(spec.std))
    per_channel_min = data.x_train.amin(dim=(0, 2, 3))
    assert (per_channel_min >= data.pad_value - 1e-6).all()


def test_cifar10_md5_check_rejects_self_made_files_with_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv(MD5_ENV, raising=False)
    write_cifar10_like(tmp_path, per_batch=4, n_test=4)
    with pytest.raises(MissingDataError, match=r"cannot read cifar10 data .*corrupted.*download=True"):
        load_classification("cifar10", tmp_path, "val", CPU)


def test_corrupt_idx_file_is_a_clear_error(tmp_path):
    raw = write_mnist_like(tmp_path, "MNIST", n_train=20, n_test=5)
    (raw / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03garbage")
    with pytest.raises(MissingDataError, match=r"cannot read mnist data in .*MNIST/raw"):
        load_classification("mnist", tmp_path, "val", CPU)


def test_missing_files_raise_before_torchvision(tmp_path):
    with pytest.raises(MissingDataError, match="mnist data not found"):
        load_classification("mnist", tmp_path, "val", CPU)


def test_builtin_data_sets_have_disjoint_splits():
    moons = load_classification("two_moons", "unused", "val", CPU)
    assert moons.x_train.shape == (4000, 2) and moons.x_eval.shape == (1000, 2)
    assert torch.allclose(moons.x_train.mean(0), torch.zeros(2), atol=1e-5)
    assert load_classification("two_moons", "unused", "test", CPU).x_eval.shape == (1000, 2)

    digits = load_classification("digits", "unused", "val", CPU)
    test = load_classification("digits", "unused", "test", CPU)
    assert digits.num_classes == 10 and digits.x_train.shape[1] == 64
    assert digits.x_train.shape[0] + digits.x_eval.shape[0] + test.x_eval.shape[0] == 1797
    rows = {tuple(r) for r in digits.x_train.tolist()}
    assert sum(tuple(r) in rows for r in test.x_eval.tolist()) < 5  # a few duplicate images exist


def test_batch_cursor_walks_whole_epochs_with_a_short_last_batch():
    cursor = BatchCursor(10, 4, torch.Generator().manual_seed(0), CPU)
    epoch = [cursor.next_indices() for _ in range(3)]
    assert [len(b) for b in epoch] == [4, 4, 2]
    assert sorted(torch.cat(epoch).tolist()) == list(range(10))
    second = torch.cat([cursor.next_indices() for _ in range(3)])
    assert sorted(second.tolist()) == list(range(10)) and not torch.equal(second, torch.cat(epoch))


def test_flip_and_crop_matches_torchvision_functional_ops():
    images = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    pad_value = torch.tensor([-1.0, -2.0, -3.0])
    out = flip_and_crop(images, pad_value, torch.Generator().manual_seed(7))
    replay = torch.Generator().manual_seed(7)
    flips = torch.rand(6, generator=replay) < 0.5
    offsets = torch.randint(0, 9, (6, 2), generator=replay)
    assert flips.any() and not flips.all()
    for i in range(6):
        image = TF.hflip(images[i]) if flips[i] else images[i]
        padded = torch.stack(
            [TF.pad(image[c : c + 1], [4], fill=float(pad_value[c])) for c in range(3)]
        ).squeeze(1)
        expected = TF.crop(padded, int(offsets[i, 0]), int(offsets[i, 1]), 32, 32)
        assert torch.equal(out[i], expected)
