"""One loop for every stage of a generation: submit what is missing, re-read the store, submit
again, at most ``MAX_PASSES`` times (:class:`evo.runner.evaluation_passes.EvaluationPasses`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pytest

from evo.config.schema import parse_config
from evo.execution.inline import InlineExecutor
from evo.runner.evaluation_passes import MAX_PASSES, EvaluationPasses, LostEvaluationsError
from evo.runner.events import RunObserver
from evo.runner.work_costs import TaskCosts
from evo.search.funnel import still_missing
from optimizers.genome import Genome, Term
from storage import Store
from workers.actors import Outcome
from workers.requests import EntrySpec, EvalRequest

CFG = parse_config(
    {"tasks": ["ackley_direct"], "evaluation": {"steps": 3, "seeds": [0, 1], "genomes_per_request": 1}}
)
SPECS = {
    g.hash: EntrySpec.of_genome(g)
    for g in (Genome(term_types=(Term.ADAM_TERM,), alphas=(1.0,), lr_log10=-2.0 - 0.1 * i) for i in range(2))
}
MISSING = [(k, "ackley_direct", s) for k in SPECS for s in (0, 1)]


class DroppingExecutor(InlineExecutor):
    """The inline executor that loses the results of its first ``drops`` submissions (an
    executor bug the driver must survive), noting every request id it is handed."""

    def __init__(self, drops: int) -> None:
        super().__init__(max_retries=0)
        self.drops = drops
        self.submissions: list[list[str]] = []

    def map_unordered(self, requests: Iterable[EvalRequest]) -> Iterator[Outcome]:
        requests = list(requests)
        self.submissions.append([r.request_id for r in requests])
        if len(self.submissions) <= self.drops:
            return iter(())
        return super().map_unordered(requests)


def _until_stored(store: Store, executor: DroppingExecutor) -> None:
    passes = EvaluationPasses(store, executor, TaskCosts())
    recheck = lambda left: still_missing(store, CFG, left)  # noqa: E731
    passes.until_stored(CFG, SPECS, list(MISSING), recheck, stage="g3h", observer=RunObserver())


def test_a_lost_pass_is_submitted_again_under_the_next_pass_tag(tmp_path) -> None:
    executor = DroppingExecutor(drops=1)
    with Store(f"sqlite:///{tmp_path / 'evo.db'}") as store:
        _until_stored(store, executor)
        assert still_missing(store, CFG, MISSING) == []
    assert [{i.split(":")[0] for i in ids} for ids in executor.submissions] == [{"g3h"}, {"g3hr1"}]
    assert len(executor.submissions[1]) == len(SPECS) * 1  # one request per genome (both seeds), again


def test_results_still_missing_after_the_last_pass_are_one_error_naming_the_stage(tmp_path) -> None:
    executor = DroppingExecutor(drops=MAX_PASSES)
    with Store(f"sqlite:///{tmp_path / 'evo.db'}") as store:
        with pytest.raises(LostEvaluationsError, match="stage g3h: 4 evaluations never came back"):
            _until_stored(store, executor)
        assert len(still_missing(store, CFG, MISSING)) == 4
    assert len(executor.submissions) == MAX_PASSES
