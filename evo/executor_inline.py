"""The inline executor: every request runs in the driver's own process, in order.

For debugging and small tests; the retry rule is the Ray executor's (:class:`evo.executor.Work`),
so both give the same outcomes for the same requests.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from evo.executor import ClosingExecutor, as_work
from workers.actors import EvaluateFn, EvaluationActor, Outcome
from workers.requests import EvalRequest


class InlineExecutor(ClosingExecutor):
    """Runs each request in this process, in order, with the same retry rules as Ray.

    Args:
        max_retries: extra attempts for an evaluation that raises.
        evaluate: ``EvalRequest -> EvalResult``; default ``workers.evaluate``.
    """

    def __init__(self, max_retries: int = 2, *, evaluate: EvaluateFn | None = None) -> None:
        self.max_retries = max_retries
        self._actor = EvaluationActor(evaluate)

    def map_unordered(self, requests: Iterable[EvalRequest]) -> Iterator[Outcome]:
        for request in requests:
            work = as_work(request)
            outcome = None
            while outcome is None:
                outcome = work.settle(self._actor.evaluate(work.request), self.max_retries)
            yield outcome

    def close(self) -> None:
        """Nothing to release."""
