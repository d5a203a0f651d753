"""The inline executor: every request runs in the driver's own process, in order.

For debugging and small tests; the retry rule is the Ray executor's (:class:`evo.execution.executor.Work`),
so both give the same outcomes for the same requests.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from evo.execution.executor import ClosingExecutor, as_work
from workers.actors import EvaluateFn, EvaluationActor, Outcome
from workers.process import configure_worker_process
from workers.requests import EvalRequest


class InlineExecutor(ClosingExecutor):
    """Runs each request in this process, in order, with the same retry rules as Ray.

    Args:
        max_retries: extra attempts for an evaluation that raises.
        evaluate: ``EvalRequest -> EvalResult``; default ``workers.evaluate``.
        threads: torch intra-op threads for this process (capped at its cores); None
            leaves torch as it is.
    """

    def __init__(
        self, max_retries: int = 2, *, evaluate: EvaluateFn | None = None, threads: int | None = None
    ) -> None:
        self.max_retries = max_retries
        self._actor = EvaluationActor(evaluate)
        if threads is not None:  # the driver's process: torch threads only, malloc left alone
            configure_worker_process(threads, tune_malloc=False)

    def map_unordered(self, requests: Iterable[EvalRequest]) -> Iterator[Outcome]:
        for request in requests:
            work = as_work(request)
            outcome = None
            while outcome is None:
                outcome = work.settle(self._actor.evaluate(work.request), self.max_retries)
            yield outcome

    def close(self) -> None:
        """Nothing to release."""
