"""Tiny data sets in the real on-disk formats torchvision reads (test helper, not a test).

* IDX (MNIST, Fashion-MNIST): big-endian int32 magic (2051 images, 2049 labels), the
  dimensions, then uint8 payload; files ``<root>/<Class>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``.
* CIFAR-10 python pickles: ``<root>/cifar-10-batches-py/data_batch_1..5``, ``test_batch``
  (dicts with str keys ``data`` uint8 [N, 3072] channel-major and ``labels``) and
  ``batches.meta`` (``label_names``). Their md5 sums differ from the real files, so reading
  them needs ``EVO_CIFAR10_VERIFY_MD5=0``.
"""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np


def write_idx_images(path: Path, images: np.ndarray) -> None:
    n, rows, cols = images.shape
    path.write_bytes(struct.pack(">iiii", 2051, n, rows, cols) + images.astype(np.uint8).tobytes())


def write_idx_labels(path: Path, labels: np.ndarray) -> None:
    path.write_bytes(struct.pack(">ii", 2049, len(labels)) + labels.astype(np.uint8).tobytes())


def _images_with_labels(
    rng: np.random.Generator, n: int, shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Random images whose mean brightness grows with the label (learnable, not trivial)."""
    labels = rng.integers(0, 10, size=n)
    noise = rng.integers(0, 120, size=(n, *shape))
    images = np.clip(noise + labels.reshape(-1, *([1] * len(shape))) * 13, 0, 255)
    return images.astype(np.uint8), labels


def write_mnist_like(
    root: Path, folder: str = "MNIST", n_train: int = 200, n_test: int = 40, seed: int = 0
) -> Path:
    """Write IDX files for torchvision's ``MNIST`` (folder "MNIST") or ``FashionMNIST``."""
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images, labels = _images_with_labels(rng, n, (28, 28))
        write_idx_images(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx_labels(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return raw


def write_cifar10_like(root: Path, per_batch: int = 40, n_test: int = 40, seed: int = 0) -> Path:
    """Write the CIFAR-10 python pickles (5 training batches, a test batch, the meta file)."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    files = [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", n_test)]
    for name, n in files:
        images, labels = _images_with_labels(rng, n, (3, 32, 32))
        with open(folder / name, "wb") as f:
            pickle.dump({"data": images.reshape(n, 3072), "labels": labels.tolist()}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, f)
    return folder


def write_all(root: Path) -> Path:
    """MNIST, Fashion-MNIST and CIFAR-10 tiny files under ``root``."""
    write_mnist_like(root, "MNIST", seed=1)
    write_mnist_like(root, "FashionMNIST", seed=2)
    write_cifar10_like(root, seed=3)
    return root
