"""Work items started longest first by the costs measured so far.

The plan (:func:`evo.runner.work_plan.plan_requests`) stays a pure function of the missing set (ids and
contents); only the submission order (:func:`evo.runner.work_costs.longest_first`) uses timings.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pytest

from evo.config.schema import EvaluationConfig, parse_config
from evo.execution.inline import InlineExecutor
from evo.runner.evaluation_passes import evaluate
from evo.runner.events import RunObserver
from evo.runner.work_costs import UNKNOWN_S, TaskCosts, longest_first
from evo.runner.work_plan import plan_requests
from optimizers.genome import Genome, Term
from storage import Store
from workers.actors import Outcome
from workers.requests import EntrySpec, EvalRequest, EvalResult, MemberResult


def _specs(n: int) -> dict[str, EntrySpec]:
    genomes = [
        Genome(term_types=(Term.ADAM_TERM,), alphas=(1.0,), lr_log10=-2.0 - 0.01 * i) for i in range(n)
    ]
    return {g.hash: EntrySpec.of_genome(g) for g in genomes}


def _result(task: str, members: int, seconds: float) -> EvalResult:
    rows = [MemberResult(entry_key=f"e{i}", seed=0, status="ok", fitness=0.5) for i in range(members)]
    return EvalResult(request_id="r", task=task, budget_key="steps=3;split=val;v1", members=rows,
                      worker="w", device="cpu", path="population", wall_time_s=seconds)  # fmt: skip


def test_costs_are_measured_seconds_per_member_per_task() -> None:
    costs = TaskCosts()
    assert costs.per_member("digits", "steps=3;split=val;v1") == UNKNOWN_S
    costs.observe(_result("digits", 10, 2.0))
    costs.observe(_result("digits", 6, 1.2))
    costs.observe(_result("landscape", 10, 0.1))
    budget = "steps=3;split=val;v1"
    assert costs.per_member("digits", budget) == pytest.approx(3.2 / 16)
    assert costs.per_member("landscape", budget) == pytest.approx(0.01)
    assert costs.per_member("never_seen", budget) == pytest.approx((0.2 + 0.01) / 2)
    assert costs.per_member("digits", "steps=9;split=val;v1") == pytest.approx((0.2 + 0.01) / 2)


def test_requests_start_longest_first_and_keep_their_ids() -> None:
    specs = _specs(9)
    missing = [(k, t, s) for k in specs for t in ("cheap", "dear") for s in (0, 1)]
    requests = plan_requests(missing, specs, EvaluationConfig(steps=3, genomes_per_request=8), prefix="g2")
    costs = TaskCosts()
    costs.observe(
        EvalResult(**{**_result("cheap", 4, 0.04).model_dump(), "budget_key": requests[0].budget_key})
    )
    costs.observe(
        EvalResult(**{**_result("dear", 4, 4.0).model_dump(), "budget_key": requests[0].budget_key})
    )
    ordered = longest_first(requests, costs)
    assert [r.request_id for r in ordered] == ["g2:dear:0", "g2:dear:1", "g2:cheap:0", "g2:cheap:1"]
    assert sorted(r.model_dump_json() for r in ordered) == sorted(r.model_dump_json() for r in requests)
    assert [r.request_id for r in longest_first(requests, TaskCosts())] == [  # unmeasured: by size, stable
        "g2:cheap:0", "g2:dear:0", "g2:cheap:1", "g2:dear:1"
    ]  # fmt: skip


class RecordingExecutor(InlineExecutor):
    """The inline executor, noting the order in which requests are handed to it."""

    def __init__(self) -> None:
        super().__init__(max_retries=0)
        self.order: list[str] = []

    def map_unordered(self, requests: Iterable[EvalRequest]) -> Iterator[Outcome]:
        def noted() -> Iterator[EvalRequest]:
            for r in requests:
                self.order.append(r.request_id)
                yield r

        return super().map_unordered(noted())


def test_the_driver_submits_longest_first_and_learns_the_costs(tmp_path) -> None:
    cfg = parse_config(
        {
            "tasks": ["ackley_direct", "rosenbrock_direct"],
            "evaluation": {"steps": 3, "seeds": [0], "genomes_per_request": 2},
        }
    )
    specs = _specs(3)
    missing = [(k, t, 0) for k in specs for t in cfg.tasks]
    costs = TaskCosts()
    for task, seconds in (("rosenbrock_direct", 9.0), ("ackley_direct", 0.01)):  # the plan goes by name
        costs.observe(EvalResult(**{**_result(task, 1, seconds).model_dump(), "budget_key": cfg.budget_key}))
    executor = RecordingExecutor()
    with Store(f"sqlite:///{tmp_path / 'evo.db'}") as store:
        stored = evaluate(
            store, executor, missing, specs, cfg, prefix="g0", observer=RunObserver(), costs=costs
        )
    assert stored == len(missing)
    assert executor.order == [
        "g0:rosenbrock_direct:0", "g0:rosenbrock_direct:1", "g0:ackley_direct:0", "g0:ackley_direct:1"
    ]  # fmt: skip
    assert costs.members[("ackley_direct", cfg.budget_key)] == 1 + 3  # learned from the results
