"""Loss curves do not hide diverged seeds: SGD with momentum at lr 1e-2 on Rosenbrock (the
quick run's failure) diverges on seed 0 and converges on seed 1. The members are trained by
the real worker (``workers.evaluate``), stored as the driver stores them (a real SQLite
store), and the report's loss-curve section and figure are read back."""

from __future__ import annotations

import pytest
from matplotlib.lines import Line2D

from evo.report.loss_curves import loss_band_figure
from evo.report.pictures import loss_bands, loss_curve_section
from evo.runner.evaluation_rows import outcome_rows
from optimizers.baselines import ADAM, BASELINE_GENOMES
from storage import Store
from storage.records import IndividualIn, RunScope
from workers.evaluate import evaluate
from workers.requests import EntrySpec, EvalRequest

TASK = "rosenbrock_direct"
SEEDS = [0, 1]
STEPS = 40
SGD = BASELINE_GENOMES["sgd_momentum"].model_copy(update={"lr_log10": -2.0})


@pytest.fixture(scope="module")
def diverged_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("diverged")
    request = EvalRequest(
        request_id="r", entries=[EntrySpec.of_genome(SGD), EntrySpec.of_genome(ADAM)], task=TASK,
        seeds=SEEDS, steps=STEPS, device="cpu",
    )  # fmt: skip
    result = evaluate(request)
    store = Store(f"sqlite:///{folder / 'evo.db'}")
    scope = RunScope(tasks=[TASK], seeds=SEEDS, budget_key=request.budget_key)
    run = store.create_run("diverged", {}, seed=1, scope=scope)
    store.save_generation(run.id, -1, [
        IndividualIn(slot=0, entry_key=SGD.hash, genome=SGD, origin="fixed", label="sgd_momentum"),
        IndividualIn(slot=1, entry_key=ADAM.hash, genome=ADAM, origin="fixed", label="adam"),
    ])  # fmt: skip
    for row in outcome_rows(request, result.members, None):
        store.record_evaluation(row)
    statuses = {(m.entry_key, m.seed): (m.status, m.steps_done) for m in result.members}
    yield store, store.get_run(run.id), statuses, folder
    store.close()


def test_the_run_has_one_diverged_seed(diverged_run) -> None:
    _, _, statuses, _ = diverged_run
    assert statuses[(SGD.hash, 0)][0] == "diverged" and statuses[(SGD.hash, 1)][0] == "ok"
    assert all(statuses[(ADAM.hash, s)][0] == "ok" for s in SEEDS)


def test_band_counts_the_diverged_seed_and_its_step(diverged_run) -> None:
    store, run, statuses, _ = diverged_run
    ranking = _ranking(store, run)
    bands = loss_bands(store, run, ranking)[TASK]
    at = statuses[(SGD.hash, 0)][1] + 1  # the step whose loss left the bound
    assert bands["sgd_momentum"].diverged_at == (at,) and bands["sgd_momentum"].seeds == 2
    assert bands["sgd_momentum"].legend == "1 of 2 seeds diverged"
    assert bands["adam"].diverged_at == () and bands["adam"].legend == ""


def test_figure_marks_the_divergence(diverged_run) -> None:
    store, run, statuses, _ = diverged_run
    bands = loss_bands(store, run, _ranking(store, run))
    fig = loss_band_figure(bands)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "sgd_momentum (1 of 2 seed runs diverged)" in legend and "adam" in legend
    ax = fig.axes[0]
    at = statuses[(SGD.hash, 0)][1] + 1
    crosses = [line for line in ax.lines if line.get_marker() == "x"]
    assert [list(c.get_xdata()) for c in crosses] == [[at]]
    dashed = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert dashed and min(dashed[0].get_xdata()) >= at  # surviving seed only, drawn dashed
    assert any("sgd_momentum: 1 of 2 seeds diverged" in t.get_text() for t in ax.texts)
    assert all(isinstance(c, Line2D) for c in crosses)


def test_section_lists_the_diverged_seeds(diverged_run) -> None:
    store, run, statuses, folder = diverged_run
    section = loss_curve_section(folder, store, run, _ranking(store, run))
    at = statuses[(SGD.hash, 0)][1] + 1
    items = [p for p in section.parts if p.kind == "items"]
    assert items and items[0].items == (f"sgd_momentum on {TASK}: 1 of 2 seeds diverged (at step {at})",)
    assert (folder / "loss_curves.png").stat().st_size > 10_000


def _ranking(store, run):
    from evo.evidence.ranking import best

    return best(store, run.id, top_k=None)
