"""The driver stores each work item's rows in one transaction and each generation's
wall-time breakdown; ``evo show RUN`` and the report print it."""

from __future__ import annotations

import pytest

from evo.config.schema import parse_config
from evo.execution.inline import InlineExecutor
from evo.runner.driver import Driver, create_run
from evo.runner.timing import TIMING_KEYS
from storage import Store
from tests.test_cli import evo
from tests.test_driver import Recorder, tiny_config


@pytest.fixture(scope="module")
def timed_run(tmp_path_factory):
    """A tiny inline run whose store refuses per-member writes and counts batched ones."""
    path = tmp_path_factory.mktemp("timing") / "evo.db"
    cfg = parse_config(tiny_config())
    store = Store(f"sqlite:///{path}")
    batches: list[int] = []
    batched = store.record_evaluations

    def record_evaluations(rows):
        batches.append(len(rows))
        return batched(rows)

    def record_evaluation(_row):
        raise AssertionError("the driver must store a work item's rows in one transaction")

    store.record_evaluations = record_evaluations
    store.record_evaluation = record_evaluation
    run = create_run(store, cfg, "timed")
    recorder = Recorder()
    with InlineExecutor(max_retries=0) as executor:
        Driver(store, run, executor, recorder).run()
    yield path, store, run, recorder, batches
    store.close()


def test_rows_are_stored_one_transaction_per_work_item(timed_run) -> None:
    _path, _store, _run, recorder, batches = timed_run
    assert sum(batches) == len(recorder.rows)
    assert max(batches) == 3 * 2  # genomes_per_request x seeds: a whole work item at once
    assert len(batches) < len(recorder.rows)


def test_every_generation_stores_its_wall_time_breakdown(timed_run) -> None:
    _path, store, run, _recorder, _batches = timed_run
    generations = store.generations(run.id)
    assert [g.index for g in generations] == [0, 1, 2]
    for g in generations:
        t = g.timing
        assert t is not None and set(TIMING_KEYS) <= set(t)
        assert t["workers"] == 1.0  # the inline executor
        assert t["training_s"] > 0 and t["store_s"] > 0 and t["ga_s"] > 0
        # inline, the driver waits exactly while the worker trains: training fits in the wait
        assert t["training_s"] <= t["waiting_s"] <= t["wall_s"]
        assert t["waiting_s"] + t["store_s"] + t["ga_s"] <= t["wall_s"]
        parts = t["waiting_s"] + t["store_s"] + t["ga_s"] + t["driver_s"]
        assert parts == pytest.approx(t["wall_s"])  # the driver's own time is the rest
        assert t["utilisation"] == pytest.approx(t["training_s"] / t["wall_s"])
        assert t["overhead_share"] == pytest.approx(1 - t["utilisation"])


def test_show_run_prints_the_breakdown(timed_run, capsys) -> None:
    path, store, run, _recorder, _batches = timed_run
    code, out, _err = evo(capsys, "show", "timed", "--db", f"sqlite:///{path}")
    assert code == 0
    assert "wall time" in out and "utilisation" in out
    wall = [f"{g.timing['wall_s']:.2f}" for g in store.generations(run.id)]
    assert all(w in out for w in wall)
