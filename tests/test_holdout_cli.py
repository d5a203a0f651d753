"""``evo best --holdout / --vs``, the report's held-out and paired sections, ``evo run --repeats``
and ``evo report RUN1 RUN2``, on real runs (inline executor, real SQLite)."""

from __future__ import annotations

import json
import math
import statistics

import pytest
import yaml
from test_cli import evo
from test_holdout import CONFIG, run_inline

from evo.evidence.stats import paired_comparison, summarize
from evo.report.markdown import write_report
from evo.search.aggregation import score_entries
from storage import Store


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> str:
    db = tmp_path_factory.mktemp("holdout_cli") / "evo.db"
    run_inline(db).close()
    return f"sqlite:///{db}"


def values(store: Store, key: str, budget: str, tasks: list[str]) -> dict[tuple[str, int], float]:
    return {(r.task, r.seed): r.fitness for r in store.seed_results([key], budget, tasks, [0, 1])}


def expected_line(store: Store, best_key: str, fixed_key: str, name: str) -> str:
    run = store.get_run("h")
    scope = run.scope
    train = summarize(
        paired_comparison(
            values(store, best_key, scope.budget_key, scope.tasks),
            values(store, fixed_key, scope.budget_key, scope.tasks),
        )
    )
    held = summarize(
        paired_comparison(
            values(store, best_key, scope.holdout_budget_key, scope.holdout_tasks),
            values(store, fixed_key, scope.holdout_budget_key, scope.holdout_tasks),
        )
    )
    assert train.n_tasks == 2 and held.n_tasks == 2
    return f"vs {name}: training: {train.text()}; held-out: {held.text()}"


def test_best_vs_prints_training_and_heldout_summaries(capsys, finished) -> None:
    code, out, err = evo(capsys, "best", "h", "--db", finished, "--vs", "sgd_momentum", "--json")
    assert code == 0, err
    payload = json.loads(out)
    top = next(e for e in payload["entries"] if not e["is_fixed"])
    (paired,) = payload["paired"]
    with Store(finished) as store:
        sgd = next(e["entry_key"] for e in payload["entries"] if e["label"] == "sgd_momentum")
        assert paired["summary"].endswith(expected_line(store, top["entry_key"], sgd, "sgd_momentum"))
    code, out, _ = evo(capsys, "best", "h", "--db", finished, "--vs", "all")
    assert code == 0 and out.count(" vs ") == 2 and "held-out: better on" in out
    code, _, err = evo(capsys, "best", "h", "--db", finished, "--vs", "lion")
    assert code == 2 and "'lion' is not a fixed entry of run 'h'" in err


def test_best_holdout_ranks_by_heldout_fitness(capsys, finished) -> None:
    code, out, err = evo(capsys, "best", "h", "--db", finished, "--holdout", "--json")
    assert code == 0, err
    entries = json.loads(out)
    with Store(finished) as store:
        scope = store.get_run("h").scope
        keys = [e["entry_key"] for e in entries]
        rows = store.seed_results(keys, scope.holdout_budget_key, scope.holdout_tasks, scope.seeds)
        scores = score_entries(rows, keys, scope.holdout_tasks, scope.seeds)
    assert [e["fitness"] for e in entries] == [scores[k].fitness for k in keys]
    assert [e["fitness"] for e in entries] == sorted((e["fitness"] for e in entries), reverse=True)
    assert set(entries[0]["per_task"]) == set(CONFIG["holdout_tasks"])
    assert {"adam", "sgd_momentum"} <= {e["label"] for e in entries if e["is_fixed"]}


def test_report_has_heldout_figure_and_paired_lines(tmp_path, finished) -> None:
    with Store(finished) as store:
        path = write_report(store, "h", tmp_path, landscape_steps=0)
    text = path.read_text()
    assert (tmp_path / "holdout.png").stat().st_size > 0
    assert "## Training vs held-out fitness" in text and "| generation | training | held-out |" in text
    assert text.count("training: better on") == 2 and "held-out: better on" in text
    html = (tmp_path / "index.html").read_text()
    assert "Training vs held-out fitness" in html and "held-out: better on" in html


def test_run_repeats_and_report_across_runs(capsys, tmp_path) -> None:
    config = tmp_path / "rep.yaml"
    small = {**CONFIG, "population": {"size": 4, "elites": 1, "tournament_k": 2, "generations": 2}}
    config.write_text(yaml.safe_dump({**small, "name": "rep"}))
    url = f"sqlite:///{tmp_path / 'evo.db'}"
    code, _, err = evo(capsys, "run", config, "--db", url, "--repeats", "2")
    assert code == 0, err
    with Store(url) as store:
        runs = {r.name: r.seed for r in store.list_runs()}
    assert runs == {"rep-r0": 5, "rep-r1": 6}
    code, out, err = evo(capsys, "report", "rep-r0", "rep-r1", "--db", url, "-o", tmp_path / "rep")
    assert code == 0, err
    data = json.loads((tmp_path / "rep" / "repeats.json").read_text())
    training = [r["training"] for r in data["runs"]]
    held = [r["holdout"] for r in data["runs"]]
    assert all(math.isfinite(v) for v in training + held)
    spread = data["spread"]["final best fitness (training)"]
    assert spread["mean"] == pytest.approx(statistics.fmean(training))
    assert spread["std"] == pytest.approx(statistics.stdev(training))
    assert (spread["min"], spread["max"]) == (min(training), max(training))
    assert data["spread"]["held-out fitness of that genome"]["max"] == max(held)
    with Store(url) as store:
        for r in data["runs"]:
            from evo.evidence.ranking import best

            top = next(e for e in best(store, r["run"], top_k=None) if not e.is_fixed)
            assert (r["genome"], r["training"]) == (top.entry_key, top.fitness)
    assert "## Spread across runs" in out


def test_compare_run_prints_the_same_paired_lines_as_best_vs(capsys, tmp_path, finished) -> None:
    config = tmp_path / "cmp.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    code, out, err = evo(capsys, "compare", config, "--db", finished, "--run", "h")
    assert code == 0, err
    compared = [line for line in out.splitlines() if " vs " in line and "training:" in line]
    code, out, _ = evo(capsys, "best", "h", "--db", finished, "--vs", "all")
    assert len(compared) == 2 and compared == [line for line in out.splitlines() if "training:" in line]
