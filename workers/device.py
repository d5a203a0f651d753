"""Device selection for a worker."""

from __future__ import annotations

import torch

from workers.errors import DeviceUnavailableError, WorkerError


def resolve_device(spec: str) -> torch.device:
    """Turn a device spec into a ``torch.device``.

    ``"auto"`` is the first CUDA device when CUDA is available, else the CPU; ``"cpu"``,
    ``"cuda"`` and ``"cuda:N"`` are taken literally but must exist on this worker.

    Raises:
        DeviceUnavailableError: CUDA (or GPU N) was asked for and is not there.
        WorkerError: the spec is not a device name.
    """
    text = spec.strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise WorkerError(f"unknown device {spec!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise WorkerError(f"unsupported device {spec!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if not torch.cuda.is_available():
        raise DeviceUnavailableError(
            f"device {spec!r} requested but CUDA is not available on this worker; use device 'auto' or 'cpu'"
        )
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise DeviceUnavailableError(
            f"device {spec!r} requested but this worker has {count} CUDA device(s) (cuda:0..cuda:{count - 1})"
        )
    return device


def describe_device(device: torch.device) -> str:
    """A short human name, e.g. ``cpu`` or ``cuda:0 (NVIDIA H100 80GB HBM3)``."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return str(device)
