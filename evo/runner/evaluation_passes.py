"""Running missing evaluations until they are stored: one pass, and at most ``MAX_PASSES``.

A pass plans the missing (entry, task, seed) triples into work items (:mod:`evo.runner.work_plan`),
submits them longest first (:mod:`evo.runner.work_costs`) and stores each result's rows as it
arrives. The driver's three stages (a generation's evaluations, each funnel rung, the held-out
tasks) then re-read what is still missing and submit it again, at most :data:`MAX_PASSES`
times in all, through one loop, :meth:`EvaluationPasses.until_stored`. Request ids of pass
``a`` of stage ``s`` start with ``s`` (``a = 0``) or ``s + "r" + a`` (:func:`pass_tag`); they
only pair results with requests and are never stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from evo.config.task_items import custom_tasks
from evo.runner.evaluation_rows import outcome_rows
from evo.runner.events import RunObserver
from evo.runner.timing import GenerationClock
from evo.runner.work_costs import TaskCosts, longest_first
from evo.runner.work_plan import plan_requests
from evo.search.dedup import FingerprintIndex, copy_rows

if TYPE_CHECKING:
    from evo.config.schema import JobConfig
    from evo.execution.executor import Executor
    from storage import Store
    from workers.requests import EntrySpec

Missing = list[tuple[str, str, int]]
MAX_PASSES = 2
"""Times a stage's missing evaluations are submitted before the loss is reported."""


class LostEvaluationsError(RuntimeError):
    """The executor returned fewer results than requested, twice (an executor bug)."""


def evaluate(
    store: Store,
    executor: Executor,
    missing: Iterable[tuple[str, str, int]],
    specs: dict[str, EntrySpec],
    cfg: JobConfig,
    *,
    prefix: str,
    observer: RunObserver,
    clock: GenerationClock | None = None,
    costs: TaskCosts | None = None,
) -> int:
    """Run the missing evaluations and store each result's rows (one transaction per work
    item) as it arrives; ``clock`` counts the waiting, training and store time. Requests
    start longest first by ``costs`` (:mod:`evo.runner.work_costs`), which learns from each result.

    An outcome the executor gave up on (``error`` set) becomes failed rows carrying the
    error text, fitness -1; the run goes on. Returns the number of rows stored.
    """
    clock = clock or GenerationClock()
    costs = costs if costs is not None else TaskCosts()
    user_tasks = custom_tasks(cfg)
    planned = plan_requests(missing, specs, cfg.evaluation, cfg.data, prefix=prefix, custom_tasks=user_tasks)
    requests = longest_first(planned, costs)
    by_id = {r.request_id: r for r in requests}
    stored = 0
    for outcome in clock.timed_results(executor.map_unordered(requests)):
        request = by_id[outcome.request_id]
        result = outcome.result
        if result is not None:
            costs.observe(result)
        rows = outcome_rows(
            request,
            result.members if result is not None else None,
            outcome.error,
            worker=result.worker if result is not None else "",
            device=result.device if result is not None else "",
        )
        with clock.store():
            store.record_evaluations(rows)
        for row in rows:
            observer.evaluation_recorded(row)
        stored += len(rows)
    return stored


def pass_tag(stage: str, attempt: int) -> str:
    """The request-id prefix of pass ``attempt`` (0-based) of ``stage``: ``g3``, ``g3r1``, ..."""
    return stage if attempt == 0 else f"{stage}r{attempt}"


@dataclass
class EvaluationPasses:
    """Where one generation's evaluations run and are timed: the store, the executor, the
    learned task costs and the generation's clock, shared by all its stages."""

    store: Store
    executor: Executor
    costs: TaskCosts
    clock: GenerationClock = field(default_factory=GenerationClock)

    def until_stored(
        self,
        cfg: JobConfig,
        specs: dict[str, EntrySpec],
        missing: Missing,
        recheck: Callable[[Missing], Missing],
        *,
        stage: str,
        observer: RunObserver,
        dedup: FingerprintIndex | None = None,
    ) -> None:
        """Submit ``missing`` under ``cfg``, re-read it with ``recheck`` (what of the given
        triples is still not stored), and repeat, at most :data:`MAX_PASSES` passes.

        With ``dedup`` a pass trains only each fingerprint's representative and copies its
        rows to the duplicates (:func:`evo.search.dedup.copy_rows`).

        Raises:
            LostEvaluationsError: triples are still missing after the last pass.
        """
        for attempt in range(MAX_PASSES):
            if not missing:
                return
            to_run, to_copy = dedup.split(missing) if dedup is not None else (missing, [])
            evaluate(
                self.store, self.executor, to_run, specs, cfg,
                prefix=pass_tag(stage, attempt), observer=observer, clock=self.clock, costs=self.costs,
            )  # fmt: skip
            if dedup is not None:
                with self.clock.store():
                    copy_rows(self.store, dedup, to_copy, cfg.budget_key)
            with self.clock.store():
                missing = recheck(missing)
        if missing:
            raise LostEvaluationsError(
                f"stage {stage}: {len(missing)} evaluations never came back after {MAX_PASSES} passes"
            )
