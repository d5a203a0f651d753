"""Small helpers shared by the hand-written optimizers (ALME, Azure): argument checks,
loss conversion and seeded standard-normal noise."""

from __future__ import annotations

from typing import Any

import torch


def check(ok: bool, name: str, value: Any, rule: str) -> None:
    """Raise ``ValueError("Invalid NAME: VALUE (RULE)")`` unless ``ok``."""
    if not ok:
        raise ValueError(f"Invalid {name}: {value!r} ({rule})")


def is_int(value: Any) -> bool:
    """True for an int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def as_float(value: Any) -> float:
    """A loss as a Python float (``.item()`` on tensors: no requires-grad warning)."""
    return value.item() if isinstance(value, torch.Tensor) else float(value)


def standard_normal(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """``N(0, I)`` noise shaped like ``like``, drawn from ``generator`` (else the global RNG).

    The draw happens on the generator's device and moves to ``like``'s, so a CPU generator
    gives the same numbers for CPU and GPU parameters.
    """
    if generator is None:
        return torch.randn_like(like)
    noise = torch.randn(like.shape, generator=generator, dtype=like.dtype, device=generator.device)
    return noise.to(like.device)
