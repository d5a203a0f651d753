"""Per-member random streams, seeded from (task, seed, stream name), never the global RNG.

Every source of randomness of one member's training run has its own ``torch.Generator``:

* ``init``: model initialisation (and random start points), always a CPU generator so that
  initial weights are the same on every device;
* ``data``: the order of training examples (one permutation per epoch);
* ``augment``: data augmentation draws (CIFAR-10 flips and crops);
* ``dropout``: dropout masks.

Separate streams make a member's draws independent of the order in which a training path
consumes them, which is what lets the sequential and the population paths agree. The seed
number is derived with SHA-256 (Python's ``hash`` changes between processes).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch


def stream_seed(task: str, seed: int, stream: str) -> int:
    """A stable 63-bit seed for one member stream."""
    digest = hashlib.sha256(f"{task}|{seed}|{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def make_generator(task: str, seed: int, stream: str, device: torch.device | str = "cpu") -> torch.Generator:
    """A fresh generator for one stream of one member."""
    generator = torch.Generator(device=device)
    generator.manual_seed(stream_seed(task, seed, stream))
    return generator


@dataclass
class MemberStreams:
    """The random streams of one (task, seed) member; ``init`` lives on the CPU."""

    init: torch.Generator
    data: torch.Generator
    augment: torch.Generator
    dropout: torch.Generator
    optimizer: torch.Generator
    """Randomness inside stochastic optimizers (ALME, Azure Sky); CPU."""

    @classmethod
    def create(cls, task: str, seed: int, device: torch.device) -> MemberStreams:
        return cls(
            init=make_generator(task, seed, "init"),
            data=make_generator(task, seed, "data", device),
            augment=make_generator(task, seed, "augment", device),
            dropout=make_generator(task, seed, "dropout", device),
            optimizer=make_generator(task, seed, "optimizer"),
        )
