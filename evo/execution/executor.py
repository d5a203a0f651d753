"""Executors: where evaluation requests run. One interface (this module), two implementations.

``executor.map_unordered(requests)`` yields one :class:`workers.actors.Outcome` per
request, in completion order, tagged with the request's id. It never raises for a failed
evaluation:

* an evaluation that raises is run again, up to ``max_retries`` more times; after
  ``max_retries + 1`` raising attempts its Outcome carries the last error text;
* a bad request (an :class:`~optimizers.errors.EvoError` such as ``workers``'
  ``UnknownTaskError`` or ``MissingDataError``) fails the same way every time, so it comes
  back at once, ``attempts == 1``;
* (Ray) an actor that dies (``ray.kill``, out of memory, a crashed process) is replaced
  and the requests it held are resubmitted; that is not an attempt of the evaluation.
  A request that was running when its actor died ``max_actor_deaths + 1`` times (one
  that crashes every process it touches) is given up as an error; the requests queued
  behind it are resubmitted without blame.

:class:`evo.execution.inline.InlineExecutor` runs the evaluate function in the driver's
process (debugging, small tests); :class:`evo.execution.ray_pool.RayExecutor` is a pool of
:class:`workers.actors.EvaluationActor` on Ray. This module holds what both share: the
:class:`Executor` protocol and the retry rule (:class:`Work`); the factory is
:func:`evo.execution.make_executor`.

Example:
    >>> with make_executor(cfg.executor) as executor:  # doctest: +SKIP
    ...     for outcome in executor.map_unordered(requests):
    ...         store_rows(outcome.request_id, outcome.result, outcome.error)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from workers.actors import Outcome
from workers.requests import EvalRequest

__all__ = ["ClosingExecutor", "Executor", "Work", "as_work"]

log = logging.getLogger(__name__)


class Executor(Protocol):
    """What the driver needs from an executor."""

    def map_unordered(self, requests: Iterable[EvalRequest]) -> Iterator[Outcome]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


@dataclass
class Work:
    """A request on its way through the pool, with what happened to it so far."""

    request: EvalRequest
    attempts: int = 0
    actor_deaths: int = 0

    def final(self, outcome: Outcome) -> Outcome:
        """``outcome`` with this request's attempts and actor deaths counted in."""
        return outcome.model_copy(update={"attempts": self.attempts, "actor_deaths": self.actor_deaths})

    def give_up(self, error: str) -> Outcome:
        """The final Outcome of a request that is not run again, failed with ``error``."""
        return self.final(Outcome(request_id=self.request.request_id, error=error))

    def settle(self, call: Outcome, max_retries: int) -> Outcome | None:
        """Count one call's Outcome; return the final Outcome, or None when it should run again."""
        self.attempts += 1
        if call.ok:
            return self.final(call)
        if call.retryable and self.attempts <= max_retries:
            log.warning("request %s raised (attempt %d of %d), retrying: %s", self.request.request_id,
                        self.attempts, max_retries + 1, call.error)
            return None
        return self.final(call)


def as_work(request: object) -> Work:
    """A fresh :class:`Work` for ``request`` (TypeError for anything but an EvalRequest)."""
    if not isinstance(request, EvalRequest):
        raise TypeError(f"executors take EvalRequest objects, got {type(request).__name__}")
    return Work(request)


class ClosingExecutor:
    """Base of the executors: ``with executor:`` closes it on the way out."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
