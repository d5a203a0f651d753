"""Resume after a closed generation, and the evaluation budget in the cache key.

Real driver, real GA, real workers, inline executor, SQLite file. Evaluations are counted
through an ``evaluate`` wrapper on the inline executor (the work that actually runs) and an
observer (which generations start and close).

* After generation g closes, the stored GA state is the state *after* ``tell``
  (generation g + 1); a resume starts at g + 1, never opens or closes g again, and runs
  exactly the evaluations the interrupted run had not done.
* The store's cache is keyed on the budget: a second run with another
  ``evaluation.steps`` re-evaluates everything; one with the same budget reuses it all.
"""

from __future__ import annotations

import pytest

from evo.config.schema import parse_config
from evo.execution.inline import InlineExecutor
from evo.runner.driver import Driver, create_run
from evo.runner.events import RunObserver
from storage import Store
from workers import evaluate as worker_evaluate

CONFIG = {
    "seed": 3,
    "tasks": ["qubic_1d_direct", "six_hump_camel_direct"],
    "evaluation": {"steps": 4, "seeds": [0, 1], "genomes_per_request": 4, "device": "cpu"},
    "population": {"size": 4, "elites": 1, "tournament_k": 2, "generations": 3},
    "fixed_entries": ["adam"],
    "executor": {"kind": "inline", "max_retries": 0},
}


class Interrupt(Exception):
    """Raised by the observer right after a chosen generation was closed."""


class Log(RunObserver):
    def __init__(self, stop_after: int | None = None) -> None:
        self.started: list[int] = []
        self.closed: list[int] = []
        self.stop_after = stop_after

    def generation_started(self, generation: int, total: int, done: int) -> None:
        self.started.append(generation)

    def generation_closed(self, generation, stats, best_so_far) -> None:
        self.closed.append(generation)
        if generation == self.stop_after:
            raise Interrupt


class CountingExecutor(InlineExecutor):
    """The inline executor, counting every (entry, task, seed) its evaluate function trains."""

    def __init__(self) -> None:
        self.trained: list[tuple[str, str, int]] = []
        super().__init__(max_retries=0, evaluate=self._count)

    def _count(self, request):
        self.trained += [(e.key, request.task, s) for e in request.entries for s in request.seeds]
        return worker_evaluate(request)


def _config(**evaluation):
    data = {**CONFIG, "evaluation": {**CONFIG["evaluation"], **evaluation}}
    return parse_config(data)


def _run(store: Store, name: str, cfg, observer: RunObserver | None = None):
    run = create_run(store, cfg, name)
    with CountingExecutor() as executor:
        final = Driver(store, run, executor, observer).run()
    return run, executor.trained, final


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('ref') / 'evo.db'}")
    log = Log()
    _, trained, final = _run(store, "ref", _config(), log)
    assert log.started == log.closed == [0, 1, 2]
    return trained, final


def _stored_state_generation(store: Store, run_id: int) -> int:
    record = store.last_complete_generation(run_id)
    return record.ga_state["generation"]


@pytest.mark.parametrize("stop_after", [0, 1])
def test_resume_after_a_closed_generation_never_redoes_it(tmp_path, reference, stop_after: int) -> None:
    ref_trained, ref_final = reference
    store = Store(f"sqlite:///{tmp_path / 'evo.db'}")
    cfg = _config()
    run = create_run(store, cfg, "cut")
    first = Log(stop_after=stop_after)
    with CountingExecutor() as executor, pytest.raises(Interrupt):
        Driver(store, run, executor, first).run()
    before = list(executor.trained)
    assert first.closed == list(range(stop_after + 1))

    # The stored state is the one after tell: the next generation's.
    assert _stored_state_generation(store, run.id) == stop_after + 1
    with CountingExecutor() as probe:
        assert Driver(store, store.get_run(run.id), probe).initial_state().generation == stop_after + 1

    second = Log()
    with CountingExecutor() as executor:
        final = Driver(store, store.get_run(run.id), executor, second).run()
    after = executor.trained
    assert second.started == second.closed == list(range(stop_after + 1, 3)), second.__dict__
    # Nothing evaluated twice, nothing lost: the two halves make the uninterrupted run.
    assert not set(before) & set(after)
    assert sorted(before + after) == sorted(ref_trained)
    assert final.model_dump(mode="json") == ref_final.model_dump(mode="json")


def test_another_budget_re_evaluates_and_the_same_budget_reuses(tmp_path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'evo.db'}")
    one = {**CONFIG["population"], "generations": 1}
    base = parse_config({**CONFIG, "population": one})
    _, first, _ = _run(store, "steps4", base)
    assert first and len(first) == len(set(first))

    _, again, _ = _run(store, "steps4-again", base)
    assert again == []  # same budget: every score comes from the cache

    other = parse_config({**CONFIG, "population": one, "evaluation": {**CONFIG["evaluation"], "steps": 5}})
    _, redo, _ = _run(store, "steps5", other)
    assert sorted(redo) == sorted(first)  # another budget: nothing reused
