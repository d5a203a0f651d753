"""Classification data: files on disk -> normalised tensors on the worker's device, once.

Sources:

* ``mnist``, ``fashion_mnist``, ``cifar10``: torchvision's own dataset classes reading the
  data directory (``download=False``; :func:`download_data` fetches them where there is a
  network). MNIST/Fashion-MNIST read the uncompressed IDX files in ``<dir>/MNIST/raw`` and
  ``<dir>/FashionMNIST/raw``; CIFAR-10 the pickles in ``<dir>/cifar-10-batches-py``.
  torchvision checks CIFAR-10's md5 sums; setting the environment variable
  ``EVO_CIFAR10_VERIFY_MD5=0`` skips that check (for self-made files, e.g. in tests).
* ``two_moons``: scikit-learn ``make_moons(5000, noise=0.2)`` as in the Azure Sky seed, 80/20
  train/validation, plus an independent ``make_moons(1000, noise=0.2)`` test set; features
  standardised with the training mean and std.
* ``digits``: scikit-learn's bundled 8x8 digits (1797 images) scaled to [0, 1]; a fixed 20%
  is the test split, the rest is split like the others.

Splits (fixed seeds, so stable across runs and processes, unlike the seed's notebook which
drew its subset before seeding): the training file is permuted once; the first
``min(15000, n - n_val)`` examples are the training subset and the next
``n_val = min(5000, n // 5)`` the validation split, on which fitness is scored. The test
split (the test file) is only used with ``selection_split="test"``, which reproduces the
seed, whose fitness looked at the test set. The training subset does not depend on the
split choice.

Normalisation as in the seed: MNIST (0.1307, 0.3081), Fashion-MNIST (0.2860, 0.3530),
CIFAR-10 mean (0.4914, 0.4822, 0.4465), std (0.2470, 0.2435, 0.2616) after scaling to [0, 1].
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import torch

from workers.errors import MissingDataError
from workers.seeding import stream_seed

Tensor = torch.Tensor
Split = Literal["val", "test"]

TRAIN_SUBSET = 15_000
VAL_SIZE = 5_000
SPLIT_SEED_STREAM = "split"
MD5_ENV = "EVO_CIFAR10_VERIFY_MD5"


@dataclass(frozen=True)
class FileDataset:
    """A data set torchvision reads from files under the data directory."""

    name: str
    torchvision_class: str
    folder: str
    files: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def directory(self, data_dir: str | Path) -> Path:
        return Path(data_dir).expanduser().resolve() / self.folder

    def missing_files(self, data_dir: str | Path) -> list[str]:
        folder = self.directory(data_dir)
        return [f for f in self.files if not (folder / f).is_file()]

    def download_command(self, data_dir: str | Path) -> str:
        root = str(Path(data_dir).expanduser())
        return (
            f'python -c "from torchvision.datasets import {self.torchvision_class} as D; '
            f"[D('{root}', train=t, download=True) for t in (True, False)]\""
        )


_IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
FILE_DATASETS: dict[str, FileDataset] = {
    "mnist": FileDataset("mnist", "MNIST", "MNIST/raw", _IDX_FILES, (0.1307,), (0.3081,)),
    "fashion_mnist": FileDataset(
        "fashion_mnist", "FashionMNIST", "FashionMNIST/raw", _IDX_FILES, (0.2860,), (0.3530,)
    ),
    "cifar10": FileDataset(
        "cifar10", "CIFAR10", "cifar-10-batches-py",
        (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"),
        (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
    ),
}  # fmt: skip


@dataclass(frozen=True)
class ClassificationData:
    """One task's data on one device.

    Attributes:
        x_train: [N, ...] float32, normalised training subset; y_train: [N] int64.
        x_eval, y_eval: the selection split (validation, or test to reproduce the seed).
        pad_value: [C] value of a black pixel after normalisation (padding for crops), or None.
    """

    x_train: Tensor
    y_train: Tensor
    x_eval: Tensor
    y_eval: Tensor
    num_classes: int
    eval_split: Split
    pad_value: Tensor | None = None


def require_files(dataset: FileDataset, data_dir: str | Path) -> None:
    """Raise :class:`MissingDataError` (one line: where, what, how to get it) if files lack."""
    missing = dataset.missing_files(data_dir)
    if missing:
        raise MissingDataError(
            f"{dataset.name} data not found in {dataset.directory(data_dir)} (missing {', '.join(missing)}; "
            f"expected {', '.join(dataset.files)}); download it with: {dataset.download_command(data_dir)}"
        )


def split_indices(n: int, dataset: str) -> tuple[Tensor, Tensor]:
    """Fixed (train subset, validation) indices into a training file of ``n`` examples."""
    generator = torch.Generator().manual_seed(stream_seed(dataset, 0, SPLIT_SEED_STREAM))
    order = torch.randperm(n, generator=generator)
    n_val = min(VAL_SIZE, n // 5)
    n_train = min(TRAIN_SUBSET, n - n_val)
    return order[:n_train], order[n_train : n_train + n_val]


def cifar10_verify_md5() -> bool:
    """Whether torchvision's md5 check of CIFAR-10 files is on (``EVO_CIFAR10_VERIFY_MD5``)."""
    return os.environ.get(MD5_ENV, "1").strip().lower() not in {"0", "false", "no", "off"}


def _torchvision_dataset(dataset: FileDataset, data_dir: str | Path, train: bool):
    from torchvision import datasets as tv

    root = str(Path(data_dir).expanduser())
    cls = getattr(tv, dataset.torchvision_class)
    if dataset.torchvision_class != "CIFAR10" or cifar10_verify_md5():
        return cls(root, train=train, download=False)

    class UncheckedCIFAR10(cls):
        """CIFAR-10 without md5 checks (the file lists carry no sums)."""

        train_list: ClassVar = [[name, None] for name, _ in cls.train_list]
        test_list: ClassVar = [[name, None] for name, _ in cls.test_list]
        meta: ClassVar = {**cls.meta, "md5": None}

    return UncheckedCIFAR10(root, train=train, download=False)


def read_file_dataset(dataset: FileDataset, data_dir: str | Path, train: bool) -> tuple[Tensor, Tensor]:
    """Images [N, C, H, W] uint8 and labels [N] int64 of one split file, via torchvision."""
    require_files(dataset, data_dir)
    try:
        ds = _torchvision_dataset(dataset, data_dir, train)
        images = torch.as_tensor(np.asarray(ds.data))
        labels = torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)
    except Exception as exc:  # torchvision raises RuntimeError/AssertionError/pickle errors
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise MissingDataError(
            f"cannot read {dataset.name} data in {dataset.directory(data_dir)} ({detail}); "
            f"re-download it with: {dataset.download_command(data_dir)}"
        ) from None
    images = images.unsqueeze(1) if images.dim() == 3 else images.permute(0, 3, 1, 2)  # [N, C, H, W]
    if images.dtype != torch.uint8 or labels.shape[0] != images.shape[0]:
        raise MissingDataError(
            f"cannot read {dataset.name} data in {dataset.directory(data_dir)} (unexpected shapes or types); "
            f"re-download it with: {dataset.download_command(data_dir)}"
        )
    return images.contiguous(), labels


def _normalise(images: Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """uint8 [N, C, H, W] -> float32 (x / 255 - mean) / std per channel."""
    shape = (1, -1, 1, 1)
    mean_t = torch.tensor(mean).view(shape)
    std_t = torch.tensor(std).view(shape)
    return (images.float() / 255.0 - mean_t) / std_t


def _load_file_dataset(name: str, data_dir: str | Path, split: Split) -> ClassificationData:
    dataset = FILE_DATASETS[name]
    images, labels = read_file_dataset(dataset, data_dir, train=True)
    train_idx, val_idx = split_indices(images.shape[0], name)
    if split == "test":
        eval_images, eval_labels = read_file_dataset(dataset, data_dir, train=False)
    else:
        eval_images, eval_labels = images[val_idx], labels[val_idx]
    mean, std = dataset.mean, dataset.std
    return ClassificationData(
        x_train=_normalise(images[train_idx], mean, std),
        y_train=labels[train_idx],
        x_eval=_normalise(eval_images, mean, std),
        y_eval=eval_labels,
        num_classes=10,
        eval_split=split,
        pad_value=-torch.tensor(mean) / torch.tensor(std),
    )


def _from_arrays(
    x_pool: np.ndarray,
    y_pool: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    name: str,
    split: Split,
    standardise: bool,
) -> ClassificationData:
    x_all = torch.as_tensor(x_pool, dtype=torch.float32)
    y_all = torch.as_tensor(y_pool, dtype=torch.int64)
    train_idx, val_idx = split_indices(x_all.shape[0], name)
    x_train = x_all[train_idx]
    x_eval = torch.as_tensor(x_test, dtype=torch.float32) if split == "test" else x_all[val_idx]
    y_eval = torch.as_tensor(y_test, dtype=torch.int64) if split == "test" else y_all[val_idx]
    if standardise:
        mean, std = x_train.mean(0), x_train.std(0)
        x_train, x_eval = (x_train - mean) / std, (x_eval - mean) / std
    return ClassificationData(
        x_train=x_train, y_train=y_all[train_idx], x_eval=x_eval, y_eval=y_eval,
        num_classes=int(y_all.max()) + 1, eval_split=split,
    )  # fmt: skip


def _load_two_moons(split: Split) -> ClassificationData:
    from sklearn.datasets import make_moons

    x_pool, y_pool = make_moons(
        n_samples=5000, noise=0.2, random_state=stream_seed("two_moons", 0, "pool") % 2**32
    )
    x_test, y_test = make_moons(
        n_samples=1000, noise=0.2, random_state=stream_seed("two_moons", 0, "test") % 2**32
    )
    return _from_arrays(x_pool, y_pool, x_test, y_test, "two_moons", split, standardise=True)


def _load_digits(split: Split) -> ClassificationData:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x, y = bunch.data / 16.0, bunch.target
    order = torch.randperm(
        len(x), generator=torch.Generator().manual_seed(stream_seed("digits", 0, "test"))
    ).numpy()
    n_test = len(x) // 5
    test, pool = order[:n_test], order[n_test:]
    return _from_arrays(x[pool], y[pool], x[test], y[test], "digits", split, standardise=False)


_CACHE: dict[tuple[str, str, str, str], ClassificationData] = {}
_CACHE_LOCK = threading.Lock()


def load_classification(
    name: str, data_dir: str | Path, split: Split, device: torch.device
) -> ClassificationData:
    """The data of ``name`` on ``device``, loaded once per process (cached by all arguments).

    Raises:
        MissingDataError: files absent or unreadable (message says how to download them).
    """
    directory = str(Path(data_dir).expanduser().resolve()) if name in FILE_DATASETS else ""
    key = (name, directory, split, str(device))
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        if name in FILE_DATASETS:
            data = _load_file_dataset(name, data_dir, split)
        elif name == "two_moons":
            data = _load_two_moons(split)
        elif name == "digits":
            data = _load_digits(split)
        else:
            raise KeyError(f"unknown data set {name!r}")
        data = ClassificationData(
            x_train=data.x_train.to(device), y_train=data.y_train.to(device),
            x_eval=data.x_eval.to(device), y_eval=data.y_eval.to(device),
            num_classes=data.num_classes, eval_split=data.eval_split,
            pad_value=None if data.pad_value is None else data.pad_value.to(device),
        )  # fmt: skip
        _CACHE[key] = data
        return data


def clear_cache() -> None:
    """Forget the loaded data sets (tests; a worker keeps them for its lifetime)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def download_data(names: list[str], data_dir: str | Path) -> None:
    """Download the file data sets among ``names`` that miss files, with torchvision's own
    ``download=True`` into ``data_dir`` (needs a network; others and complete ones are skipped).

    Raises:
        MissingDataError: the download failed (offline, refused, ...): one line naming the
            data set, the directory, the reason and the command to run where there is a network.
    """
    from torchvision import datasets as tv

    for name in names:
        dataset = FILE_DATASETS.get(name)
        if dataset is None or not dataset.missing_files(data_dir):
            continue
        cls = getattr(tv, dataset.torchvision_class)
        try:
            for train in (True, False):
                cls(str(Path(data_dir).expanduser()), train=train, download=True)
        except (OSError, RuntimeError) as exc:  # URLError is an OSError; torchvision wraps some
            reason = " ".join(str(getattr(exc, "reason", None) or exc).split())
            raise MissingDataError(
                f"could not download {name} into {Path(data_dir).expanduser()}: {reason}; "
                f"fetch it on a machine with internet: {dataset.download_command(data_dir)}"
            ) from None
