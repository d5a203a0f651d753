"""Per-process settings that make a CPU worker fast; call once where a worker process starts.

* torch intra-op threads: one process per CPU (a Ray actor with one CPU) should use one
  thread. On a shared machine two OpenMP threads per process stall on each other's time
  slices: on the project's 2-core machine under load, a digits-MLP step ran 20x slower
  with 2 threads than with 1 (``benchmarks/throughput.py``).
* glibc malloc thresholds: tensors of more than 128 KB are mmap-ed and unmapped on every
  allocation by default (the threshold adapts, but erratically), so the optimizer update's
  temporaries page-fault afresh each step. Raising ``M_MMAP_THRESHOLD`` (and the trim
  threshold) keeps them in the heap: the population update of 8 MLP9s ran 2x faster.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

import torch

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def raise_malloc_thresholds(mmap_threshold_mb: int = 32) -> bool:
    """Keep allocations below ``mmap_threshold_mb`` in the heap (glibc only).

    Returns False where there is no glibc ``mallopt`` (other C libraries, other systems).
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    threshold = mmap_threshold_mb << 20
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold)) and bool(mallopt(_M_TRIM_THRESHOLD, 2 * threshold))


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def thread_count(cpus: float, requested: int | None = None) -> int:
    """Torch threads for a worker given ``cpus`` logical CPUs: ``requested`` if set, else
    one per whole CPU given (at least one); never more than :func:`available_cores`.

    Example:
        >>> thread_count(0.5) == 1 and thread_count(1.0) == 1
        True
        >>> thread_count(2.0, requested=10**6) == available_cores()
        True
    """
    wanted = requested if requested is not None else int(cpus)
    return max(1, min(int(wanted), available_cores()))


def configure_worker_process(threads: int | None = None, tune_malloc: bool = True) -> dict[str, object]:
    """Set torch's intra-op threads (if given; capped at :func:`available_cores`) and raise
    the malloc thresholds; returns what is in effect, e.g. ``{"threads": 1, "malloc_tuned": True}``."""
    if threads is not None:
        torch.set_num_threads(max(1, min(int(threads), available_cores())))
    tuned = raise_malloc_thresholds() if tune_malloc else False
    return {"threads": torch.get_num_threads(), "malloc_tuned": tuned}
