"""The evaluation actor: a long-lived worker process that calls ``workers.evaluate``.

Worker state lives in the actor (Ray's global-variables pattern): the evaluate function,
the torch thread count and, through ``workers``' per-process data cache, the datasets,
which are therefore loaded once per actor and reused by every request it serves.

:class:`EvaluationActor` is a plain class. ``evo.execution.inline.InlineExecutor`` runs it
in the driver's process; :func:`remote_actor_class` wraps the same class with ``ray.remote``
for ``evo.execution.ray_pool.RayExecutor``. Either way one call returns one :class:`Outcome`: the
evaluation's result, or the error it raised as text, so that failures travel back as data
(no exception pickling) and the executor decides about retries; the executor's final
Outcome of a request is the same type with its attempts counted. Ray is imported only
inside functions: this module loads without it.
"""

from __future__ import annotations

import os
import socket
import sys
import traceback
from collections.abc import Callable
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict

from optimizers.errors import EvoError, one_line
from workers.requests import EvalRequest, EvalResult

EvaluateFn = Callable[[EvalRequest], EvalResult]


class Outcome(BaseModel):
    """What became of a request: its result, or the error text it failed with.

    The actor returns one per call (``attempts == 1``); the executor yields one per request,
    the last call's, with ``attempts`` (calls that ran the evaluation) and
    ``actor_deaths`` (calls lost with their actor) counted over all its calls.
    ``retryable`` is False for an :class:`~optimizers.errors.EvoError` (a bad request:
    unknown task or entry, missing data): running it again would fail the same way.
    """

    model_config = ConfigDict(frozen=True)

    request_id: str
    result: EvalResult | None = None
    error: str | None = None
    retryable: bool = False
    attempts: int = 1
    actor_deaths: int = 0

    @property
    def ok(self) -> bool:
        return self.result is not None


def default_evaluate() -> EvaluateFn:
    """``workers.evaluate``, imported when first needed (the package is heavy)."""
    from workers import evaluate

    return evaluate


def error_text(exc: BaseException) -> str:
    """``"Type: message"`` plus the innermost frame, on one line."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno})" if frames else ""
    return one_line(exc, typed=True) + where


def worker_name() -> str:
    """``host:pid`` of this process, plus ``@`` and the first 12 hex digits of its Ray node
    id when it runs inside a Ray session (two nodes on one host are then told apart)."""
    name = f"{socket.gethostname()}:{os.getpid()}"
    ray = sys.modules.get("ray")  # never imported here just for the name
    if ray is not None and ray.is_initialized():
        name += f"@{ray.get_runtime_context().get_node_id()[:12]}"
    return name


class EvaluationActor:
    """Calls an evaluate function on requests, one at a time, and reports attempts.

    Args:
        evaluate: a picklable module-level function ``EvalRequest -> EvalResult``;
            ``None`` means ``workers.evaluate``.
        torch_threads: intra-op threads for torch in this process (an actor with one CPU
            should use one thread, or actors oversubscribe the cores) and raises glibc's
            malloc thresholds (2x on the MLP9 population path, ``benchmarks/throughput.py``);
            ``None`` leaves the process as it is (used in-process by the inline executor).
    """

    def __init__(self, evaluate: EvaluateFn | None = None, torch_threads: int | None = None) -> None:
        self._evaluate = evaluate if evaluate is not None else default_evaluate()
        if torch_threads is not None:  # a dedicated worker process: also tune its malloc
            from workers.process import configure_worker_process

            configure_worker_process(torch_threads)
        self._worker = worker_name()
        self._calls = 0

    def evaluate(self, request: EvalRequest) -> Outcome:
        """Run the evaluate function once; an exception becomes ``Outcome.error``."""
        self._calls += 1
        try:
            result = self._evaluate(request)
        except Exception as exc:  # failures are data; the executor retries, the driver records
            return Outcome(
                request_id=request.request_id, error=error_text(exc), retryable=not isinstance(exc, EvoError)
            )
        if result.worker != self._worker:  # name the Ray node too: several may share a host
            result = result.model_copy(update={"worker": self._worker})
        return Outcome(request_id=request.request_id, result=result)

    def info(self) -> dict[str, Any]:
        """Where this actor runs: pid, host, GPU ids Ray assigned, torch threads, calls served."""
        gpu_ids: list[Any] = []
        try:
            import ray

            if ray.is_initialized():
                gpu_ids = list(ray.get_gpu_ids())
        except ImportError:
            pass
        import torch

        return {
            "worker": self._worker,
            "pid": os.getpid(),
            "gpu_ids": gpu_ids,
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "torch_threads": torch.get_num_threads(),
            "calls": self._calls,
        }


@cache
def remote_actor_class() -> Any:
    """:class:`EvaluationActor` as a Ray actor class (``max_restarts=0``: the executor,
    not Ray, replaces a dead actor and resubmits its work)."""
    import ray

    return ray.remote(max_restarts=0, max_task_retries=0)(EvaluationActor)
