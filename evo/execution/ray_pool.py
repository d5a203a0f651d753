"""The Ray executor: a pool of :class:`workers.actors.EvaluationActor` on a Ray cluster.

Shaped like Ray's ``ActorPool``: at most ``in_flight_per_actor`` (1) requests per actor in
flight, ``ray.wait`` for whichever finishes first, the freed actor given its next request
before the caller sees the result (so it never waits while the driver stores it), the
request iterator consumed lazily. One request per actor, not two: a request queued behind
a running one is bound to that actor although another may free up first, which at the end
of a generation of unequal requests leaves workers idle (the quick run's warm generations
spent ~25% of their wall time so, ``benchmarks/results/quick_generation_timing.json``),
while the round trip a queued request hides is ~3 ms per request
(``benchmarks/results/executor_overhead.md``). An actor
that dies is replaced and the requests it held are resubmitted (see :mod:`evo.execution.executor`
for the rules). Ray is imported inside functions only.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from evo.errors import ClusterResourceError, ExecutorError
from evo.execution.executor import ClosingExecutor, Work, as_work
from evo.execution.ray_session import ActorResources, GpuRequest, ensure_ray, plan_actor_resources
from optimizers.errors import one_line
from workers.actors import EvaluateFn, Outcome, remote_actor_class
from workers.requests import EvalRequest

log = logging.getLogger(__name__)

IN_FLIGHT_PER_ACTOR = 1
"""One request per actor: late binding keeps a generation's tail short (module docstring);
2 queues the next request behind the running one (Ray's pipelining pattern), which pays
only for requests of a few milliseconds."""


@dataclass(frozen=True)
class _Call:
    """One submission of a request to an actor; ``seq`` orders submissions."""

    work: Work
    slot: int
    actor: Any
    seq: int


def users_runtime_env() -> dict[str, Any]:
    """``ray.init``'s ``runtime_env`` shipping the modules of users' tasks imported in this
    process (:func:`workers.tasks.user_tasks.user_module_paths`) to every worker of the job, on
    every node (Ray uploads them once; local paths are allowed at the job level only)."""
    from workers.tasks.user_tasks import user_module_paths

    modules = user_module_paths()
    return {"runtime_env": {"py_modules": modules}} if modules else {}


class RayExecutor(ClosingExecutor):
    """A pool of evaluation actors on a Ray cluster (local, or joined by ``address``).

    The pool is checked against ``ray.cluster_resources()`` before any actor starts (see
    :func:`evo.execution.ray_session.plan_actor_resources`: GPUs asked of a GPU-less cluster, or
    more than it has, fail at once) and the constructor waits until every actor answers.

    Args:
        num_actors: actors in the pool.
        cpus_per_actor: logical CPUs per actor; its torch uses ``max(1, int(cpus))`` threads.
        gpus_per_actor: GPUs per actor, fractional to pack (0.25: four actors per GPU), or
            ``"auto"`` (a GPU share when the cluster has GPUs, else CPU with a warning).
        max_retries: extra attempts for an evaluation that raises.
        address: a Ray cluster to join; None starts (or reuses) a local one.
        evaluate: a picklable module-level ``EvalRequest -> EvalResult``; default
            ``workers.evaluate``.
        max_actor_deaths: resubmissions of a request whose actor died while running it,
            before it is given up (one that kills every actor it touches must not loop).
        start_timeout_s: how long the actors may take to start (import torch, load data).
        in_flight_per_actor: requests submitted to one actor at a time; 2 queues the next
            one while the current runs (it pays for requests of a few milliseconds only).
        threads_per_actor: torch threads per actor; None: one per whole CPU reserved. The
            actor caps it at its node's cores either way.

    Raises:
        RayConnectError, ClusterResourceError, NoGPUError: see :mod:`evo.execution.ray_session`.
        ExecutorError: an actor did not start within ``start_timeout_s``, or crashed.
    """

    def __init__(
        self,
        num_actors: int,
        cpus_per_actor: float = 1.0,
        gpus_per_actor: GpuRequest = 0,
        max_retries: int = 2,
        address: str | None = None,
        *,
        evaluate: EvaluateFn | None = None,
        max_actor_deaths: int = 3,
        start_timeout_s: float = 180.0,
        in_flight_per_actor: int = IN_FLIGHT_PER_ACTOR,
        threads_per_actor: int | None = None,
    ) -> None:
        if in_flight_per_actor < 1:
            raise ExecutorError(f"in_flight_per_actor must be >= 1, got {in_flight_per_actor}")
        cluster = ensure_ray(address, **users_runtime_env())
        self.resources: ActorResources = plan_actor_resources(
            num_actors, cpus_per_actor, gpus_per_actor, cluster
        )
        self.max_retries = max_retries
        self.threads_per_actor = threads_per_actor or self.resources.torch_threads
        self.max_actor_deaths = max_actor_deaths
        self.in_flight_per_actor = in_flight_per_actor
        self.max_in_flight = in_flight_per_actor * num_actors
        self.submitted = 0
        """Calls sent to actors so far, resubmissions and retries included."""
        self.replaced_actors = 0
        self._evaluate = evaluate
        self._slots: list[Any] = [self._start_actor() for _ in range(num_actors)]
        self._load = [0] * num_actors
        self._in_flight: dict[Any, _Call] = {}  # ObjectRef -> the call it will answer
        self._running_when_died: dict[int, int] = {}  # id(dead actor) -> seq of its running call
        self._mapping = False
        self._closed = False
        self._wait_until_started(start_timeout_s)

    # -- pool ------------------------------------------------------------------------
    @property
    def actors(self) -> list[Any]:
        """The live actor handles (tests kill one of them to see it replaced)."""
        return [a for a in self._slots if a is not None]

    @property
    def in_flight(self) -> int:
        """Requests submitted to actors and not collected yet (<= ``max_in_flight``)."""
        return len(self._in_flight)

    def actor_info(self) -> list[dict[str, Any]]:
        """``EvaluationActor.info()`` of every actor: pid, GPU ids, torch threads, calls."""
        import ray

        return ray.get([a.info.remote() for a in self.actors])

    def _start_actor(self) -> Any:
        options = {"num_cpus": self.resources.num_cpus, "num_gpus": self.resources.num_gpus}
        return remote_actor_class().options(**options).remote(self._evaluate, self.threads_per_actor)

    def _wait_until_started(self, timeout_s: float) -> None:
        """Wait until every actor answers. One that dies while starting (killed, out of
        memory) is replaced, up to ``max_actor_deaths`` times in all; a start that fails
        otherwise, or more often, ends the pool with :class:`ExecutorError`."""
        import ray

        deadline = time.monotonic() + timeout_s
        deaths = 0
        for slot in range(len(self._slots)):
            while True:
                try:
                    ray.get(self._slots[slot].info.remote(), timeout=max(0.0, deadline - time.monotonic()))
                    break
                except ray.exceptions.GetTimeoutError:
                    free = {k: v for k, v in ray.available_resources().items() if k in ("CPU", "GPU")}
                    self.close()
                    raise ClusterResourceError(
                        f"the evaluation actors did not start within {timeout_s:g} s (free now: {free}); "
                        "other jobs hold the cluster's resources: wait for them or lower executor.num_actors"
                    ) from None
                except _actor_death_errors() as exc:
                    deaths += 1
                    if deaths > self.max_actor_deaths:
                        self.close()
                        raise ExecutorError(
                            f"evaluation actors died {deaths} times while starting: {one_line(exc, 300)}"
                        ) from None
                    self._replace(slot, self._slots[slot], f"while starting: {type(exc).__name__}")
                except ray.exceptions.RayError as exc:
                    self.close()
                    message = f"an evaluation actor failed to start: {one_line(exc, 300)}"
                    raise ExecutorError(message) from None

    def _free_slot(self) -> int | None:
        """The least-loaded slot with room for one more request, or None."""
        slot = min(range(len(self._slots)), key=self._load.__getitem__)
        return slot if self._load[slot] < self.in_flight_per_actor else None

    def _submit(self, work: Work, slot: int) -> None:
        if self._slots[slot] is None:  # emptied when an abandoned map left work on it
            self._slots[slot] = self._start_actor()
        actor = self._slots[slot]
        self._in_flight[actor.evaluate.remote(work.request)] = _Call(work, slot, actor, self.submitted)
        self._load[slot] += 1
        self.submitted += 1

    def _blame_and_replace(self, call: _Call, reason: str) -> bool:
        """Handle the death of ``call.actor``; True if ``call`` was the one it was running.

        The first of the dead actor's calls to come back replaces it in its slot and
        notes which of its calls was running: the oldest, since an actor runs its calls
        in submission order. The calls queued behind it were innocent bystanders.
        """
        dead = call.actor
        if self._slots[call.slot] is dead:
            on_dead = [c.seq for c in self._in_flight.values() if c.actor is dead]
            self._running_when_died[id(dead)] = min([call.seq, *on_dead])
            self._replace(call.slot, dead, reason)
        return self._running_when_died.get(id(dead)) == call.seq

    def _replace(self, slot: int, dead: Any, reason: str) -> None:
        """Kill ``dead`` for good and put a fresh actor in its slot."""

        log.warning("evaluation actor %d died (%s); starting a replacement", slot, reason)
        _kill(dead)
        self._slots[slot] = self._start_actor()
        self.replaced_actors += 1

    # -- mapping ---------------------------------------------------------------------
    def map_unordered(self, requests: Iterable[EvalRequest]) -> Iterator[Outcome]:
        """Yield one Outcome per request as each finishes; pulls requests only as needed.

        Abandoning the iterator early (``break``, an exception, Ctrl-C) kills the actors
        that still hold work, so that a later map starts on idle actors.
        """
        import ray

        if self._closed:
            raise ExecutorError("this RayExecutor is closed; make a new one")
        if self._mapping:
            raise ExecutorError("map_unordered is already running on this executor; finish it first")
        self._mapping = True
        source = iter(requests)
        retry_queue: deque[Work] = deque()
        try:
            self._fill(source, retry_queue)
            while self._in_flight:
                [ref], _ = ray.wait(list(self._in_flight), num_returns=1)
                outcome = self._collect(ref, retry_queue)
                self._fill(source, retry_queue)  # the freed actor's next request goes before the
                if outcome is not None:  # caller handles this one (stores it): it never waits on that
                    yield outcome
        finally:
            self._mapping = False
            self._abandon_in_flight()

    def _fill(self, source: Iterator[EvalRequest], retry_queue: deque[Work]) -> None:
        """Submit retries, then requests pulled from ``source``, while an actor has room."""
        while (slot := self._free_slot()) is not None:
            if retry_queue:
                work = retry_queue.popleft()
            else:
                request = next(source, None)
                if request is None:
                    return
                work = as_work(request)
            self._submit(work, slot)

    def _collect(self, ref: Any, retry_queue: deque[Work]) -> Outcome | None:
        """Settle a finished call: the Outcome, or None after queueing it to run again."""
        import ray

        call = self._in_flight.pop(ref)
        work = call.work
        self._load[call.slot] -= 1
        try:
            call_outcome: Outcome = ray.get(ref)
        except _actor_death_errors() as exc:
            if self._blame_and_replace(call, type(exc).__name__):
                work.actor_deaths += 1
            if work.actor_deaths > self.max_actor_deaths:
                return work.give_up(
                    f"gave up: the evaluation actor died {work.actor_deaths} time(s) while running "
                    f"this request (last: {one_line(exc, 300)})"
                )
            retry_queue.appendleft(work)
            return None
        except ray.exceptions.RayError as exc:  # e.g. the request could not be deserialized
            call_outcome = Outcome(
                request_id=work.request.request_id, error=one_line(exc, 300), retryable=True
            )
        outcome = work.settle(call_outcome, self.max_retries)
        if outcome is None:
            retry_queue.appendleft(work)
        return outcome

    def _abandon_in_flight(self) -> None:

        if not self._in_flight:
            return
        busy = {call.slot for call in self._in_flight.values()}
        log.warning("map_unordered abandoned with %d requests in flight; stopping their actors",
                    len(self._in_flight))
        for slot in busy:
            if self._slots[slot] is not None:
                _kill(self._slots[slot])
                self._slots[slot] = None
        self._in_flight.clear()
        self._load = [0] * len(self._slots)

    def close(self) -> None:
        """Stop every actor (the Ray session itself stays up: it may be shared)."""

        if self._closed:
            return
        self._closed = True
        for actor in self.actors:
            _kill(actor)
        self._slots = [None] * len(self._slots)
        self._in_flight.clear()


def _kill(actor: Any) -> None:
    """``ray.kill`` without Ray's restart; an actor already gone (or no session) is fine."""
    import ray

    with contextlib.suppress(Exception):
        ray.kill(actor, no_restart=True)


def _actor_death_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean the actor (or its process or node) is gone, not the evaluation."""
    from ray import exceptions as rx

    return (rx.RayActorError, rx.WorkerCrashedError, rx.OutOfMemoryError, rx.NodeDiedError,
            rx.ObjectLostError, rx.LocalRayletDiedError)
