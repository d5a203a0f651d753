"""``evo dashboard``'s JSON API and pages over a real store (FastAPI's TestClient, no server).

Two repeats of a tiny run with a held-out task are made through the CLI (inline executor)
on SQLite, and on PostgreSQL where ``EVO_TEST_POSTGRES_URL`` is set. Every answer is checked
against the store read back by the library's own functions (``evo best``'s ranking, the
paired statistics recomputed from the seed rows, the stored populations); the database file
is byte-identical after every request.
"""

from __future__ import annotations

import math
import shlex
import shutil
import statistics

import pytest
import yaml
from cli_helpers import fingerprint
from fastapi.testclient import TestClient
from store_backends import BACKEND_PARAMS

from evo.cli.app import main
from evo.dashboard.web_app import create_app
from evo.evidence.holdout_results import holdout_fitness
from evo.evidence.ranking import best
from evo.evidence.repeats import run_outcome
from evo.runner.lease import new_owner
from optimizers.genome import Genome, Term
from storage import EvaluationIn, IndividualIn, Store
from storage.errors import StorageError
from storage.testing import fresh_database_url

TINY = {
    "seed": 3,
    "tasks": ["qubic_1d_direct", "two_moons"],
    "holdout_tasks": ["rosenbrock_direct"],
    "evaluation": {"steps": 6, "seeds": [0, 1], "genomes_per_request": 4, "device": "cpu"},
    "population": {"size": 4, "elites": 1, "tournament_k": 2, "generations": 2},
    "fixed_entries": ["adam", "sgd_momentum"],
    "executor": {"kind": "inline", "max_retries": 0},
}
RUNS = ["tiny-r0", "tiny-r1"]


def evo_main(*args: object) -> None:
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        assert not exc.code, f"evo {args[0]} failed with {exc.code}"


@pytest.fixture(scope="module", params=BACKEND_PARAMS)
def workspace(request, tmp_path_factory):
    """A store holding the finished repeats tiny-r0 and tiny-r1, and a client of the dashboard on it."""
    root = tmp_path_factory.mktemp("dashboard")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, "name": "tiny"}))
    with fresh_database_url(request.param, root) as url:
        evo_main("run", config, "--db", url, "--repeats", 2)
        with Store(url, read_only=True) as store, TestClient(create_app(url)) as client:
            db = root / "evo.db" if request.param == "sqlite" else None
            yield {"url": url, "store": store, "client": client, "db": db, "root": root}


@pytest.fixture
def writable_copy(workspace, tmp_path) -> str:
    """The URL of a copy of the workspace's SQLite file, for tests that write (SQLite only)."""
    if workspace["db"] is None:
        pytest.skip("runs on a copy of the SQLite file")
    copy = tmp_path / "copy.db"
    shutil.copy(workspace["db"], copy)
    return f"sqlite:///{copy}"


def get(workspace, path: str, status: int = 200):
    response = workspace["client"].get(path)
    assert response.status_code == status, response.text
    return response.json()


def test_runs_list_every_run_with_its_status_generations_and_best(workspace) -> None:
    store = workspace["store"]
    runs = {r["name"]: r for r in get(workspace, "/api/runs")}
    assert sorted(runs) == RUNS
    for name in RUNS:
        generations = store.generations(store.get_run(name).id)
        assert runs[name]["status"] == "finished"
        assert runs[name]["generations_done"] == len(generations) == TINY["population"]["generations"]
        assert runs[name]["generations_planned"] == TINY["population"]["generations"]
        assert runs[name]["best_fitness"] == pytest.approx(max(g.best_fitness for g in generations))
        assert runs[name]["tasks"] == TINY["tasks"] and runs[name]["holdout_tasks"] == TINY["holdout_tasks"]


def test_run_gives_its_generations_and_only_the_new_ones_after_k(workspace) -> None:
    store = workspace["store"]
    stored = store.generations(store.get_run("tiny-r1").id)
    run = get(workspace, "/api/runs/tiny-r1")
    assert [g["index"] for g in run["generations"]] == [g.index for g in stored]
    assert [g["best"] for g in run["generations"]] == pytest.approx([g.best_fitness for g in stored])
    assert [g["mean"] for g in run["generations"]] == pytest.approx([g.mean_fitness for g in stored])
    later = get(workspace, "/api/runs/tiny-r1?after=0")
    assert [g["index"] for g in later["generations"]] == [g.index for g in stored if g.index > 0]
    assert later["generations_done"] == len(stored)  # the count stays the whole run's


def test_ranking_is_evo_best_with_held_out_fitness_and_canonical_rules(workspace) -> None:
    store = workspace["store"]
    run = store.get_run("tiny-r0")
    expected = best(store, run.id, top_k=3, fixed_too=True)
    held = holdout_fitness(store, run, [e.entry_key for e in expected])
    shown = get(workspace, "/api/runs/tiny-r0/ranking?top=3")
    assert [e["entry_key"] for e in shown["entries"]] == [e.entry_key for e in expected]
    assert {e["name"] for e in shown["entries"] if e["is_fixed"]} == {"adam", "sgd_momentum"}
    for row, entry in zip(shown["entries"], expected, strict=True):
        assert row["rank"] == entry.rank and row["fitness"] == pytest.approx(entry.fitness)
        assert row["per_task"] == pytest.approx(entry.per_task)
        assert row["rule"] == entry.genome.canonical().describe()
        value = held[entry.entry_key]
        assert row["holdout_fitness"] == (pytest.approx(value) if math.isfinite(value) else None)


def test_paired_compares_the_best_genome_with_every_fixed_entry_seed_by_seed(workspace) -> None:
    store = workspace["store"]
    run = store.get_run("tiny-r0")
    ranked = best(store, run.id, top_k=None)
    top = next(e for e in ranked if not e.is_fixed)
    adam_key = next(e.entry_key for e in ranked if e.is_fixed and e.label == "adam")
    paired = get(workspace, "/api/runs/tiny-r0/paired")
    assert paired["entry"] == top.entry_key
    assert sorted(v["baseline"] for v in paired["comparisons"]) == ["adam", "sgd_momentum"]
    scope = run.scope
    rows = store.seed_results([top.entry_key, adam_key], scope.budget_key, scope.tasks, scope.seeds)
    value = {(r.entry_key, r.task, r.seed): r.fitness for r in rows}
    adam = next(v for v in paired["comparisons"] if v["baseline"] == "adam")
    for task in scope.tasks:
        diffs = [value[(top.entry_key, task, s)] - value[(adam_key, task, s)] for s in scope.seeds]
        assert adam["training"][task]["mean_diff"] == pytest.approx(statistics.fmean(diffs), abs=1e-12)
        assert adam["training"][task]["n"] == len(scope.seeds)
    assert set(adam["holdout"]) == set(TINY["holdout_tasks"])


def test_genome_data_lineage_scores_and_a_working_export_command(workspace, tmp_path, monkeypatch) -> None:
    store = workspace["store"]
    run = store.get_run("tiny-r0")
    last = len(store.generations(run.id)) - 1
    child = next(i for i in store.individuals(run.id, last) if i.origin in ("crossover", "mutation"))
    genome = get(workspace, f"/api/genomes/{child.entry_key[:8]}?run=tiny-r0")  # a prefix is enough
    assert genome["hash"] == child.entry_key and "<math" in genome["mathml"]
    slots = [(a["run"], a["generation"], a["slot"], a["origin"], a["parents"]) for a in genome["lineage"]]
    assert ("tiny-r0", last, child.slot, child.origin, child.parents) in slots
    ranked = {e.entry_key: e for e in best(store, run.id, top_k=None)}
    per_task = {t: s["fitness"] for t, s in genome["scores"].items()}
    assert per_task == pytest.approx(ranked[child.entry_key].per_task)
    assert sorted(genome["scores"]["two_moons"]["seeds"]) == ["0", "1"]
    command = shlex.split(genome["export_command"])
    assert command[:2] == ["evo", "export"]
    shown = genome["export_command"]
    assert f":{store.url.password}@" not in shown and ":***@" not in shown  # no password, not even masked
    if store.url.password is not None:  # a user's client finds it in PGPASSWORD or ~/.pgpass
        monkeypatch.setenv("PGPASSWORD", store.url.password)
    monkeypatch.chdir(tmp_path)
    evo_main(*command[1:])  # the page's command, as a user pastes it
    assert f"{child.entry_key}" in (tmp_path / "optimizer.py").read_text()


def test_compare_shows_repeats_side_by_side_with_their_spread(workspace) -> None:
    store = workspace["store"]
    data = get(workspace, "/api/compare?runs=tiny-r0&runs=tiny-r1")
    outcomes = [run_outcome(store, name) for name in RUNS]
    assert [r["name"] for r in data["runs"]] == RUNS
    for row, outcome in zip(data["runs"], outcomes, strict=True):
        assert row["outcome"]["training"] == pytest.approx(outcome.training)
        assert row["outcome"]["genome"] == outcome.genome
        assert len(row["best_per_generation"]) == TINY["population"]["generations"]
    training = [o.training for o in outcomes]
    assert data["spread"]["training"]["n"] == 2
    assert data["spread"]["training"]["mean"] == pytest.approx(statistics.fmean(training))
    assert data["spread"]["training"]["std"] == pytest.approx(statistics.stdev(training))
    one = get(workspace, "/api/compare?runs=tiny-r0", status=400)
    assert "two or more runs" in one["detail"]


@pytest.mark.parametrize(
    ("path", "needle"),
    [("/api/runs/nope", "no run 'nope'"), ("/api/runs/nope/ranking", "no run 'nope'"),
     ("/api/genomes/ffffffffffff", "ffffffffffff"), ("/api/compare?runs=tiny-r0&runs=nope", "no run 'nope'")],
)  # fmt: skip
def test_unknown_names_are_404_with_one_clear_line(workspace, path: str, needle: str) -> None:
    detail = get(workspace, path, status=404)["detail"]
    assert needle in detail and "\n" not in detail


def test_pages_are_shells_for_the_script_and_404_for_unknown_runs(workspace) -> None:
    client = workspace["client"]
    page = client.get("/runs/tiny-r0")
    assert page.status_code == 200 and '"run": "tiny-r0"' in page.text and "/static/dashboard.js" in page.text
    assert "http" not in page.text.split("<body", 1)[1]  # nothing loaded from elsewhere
    missing = client.get("/runs/nope")
    assert missing.status_code == 404 and "no run &#x27;nope&#x27;" in missing.text
    assert client.get("/compare?runs=tiny-r0&runs=tiny-r1").status_code == 200
    script = client.get("/static/dashboard.js")
    assert script.status_code == 200 and "fetch(" in script.text and "http" not in script.text.replace(
        "http://www.w3.org/2000/svg", ""
    )


def test_the_dashboard_never_writes(workspace) -> None:
    store = workspace["client"].app.state.store
    with pytest.raises(StorageError, match="read-only"):  # mode=ro / read-only sessions: no write can happen
        store.set_status(store.get_run("tiny-r0").id, "paused")
    if workspace["db"] is None:
        return  # the byte-identical file check is SQLite's
    before = fingerprint(workspace["db"])
    for path in ["/api/runs", "/api/runs/tiny-r0", "/api/runs/tiny-r0/ranking", "/api/runs/tiny-r0/paired",
                 "/api/compare?runs=tiny-r0&runs=tiny-r1", "/runs/tiny-r0", "/"]:  # fmt: skip
        workspace["client"].get(path)
    assert fingerprint(workspace["db"]) == before


def test_status_follows_the_run_lease(writable_copy) -> None:
    with Store(writable_copy) as writer, TestClient(create_app(writable_copy)) as client:
        run = writer.get_run("tiny-r0")

        def status() -> str:
            return next(r["status"] for r in client.get("/api/runs").json() if r["name"] == "tiny-r0")

        writer.set_status(run.id, "running")
        owner = new_owner()  # this process: alive
        writer.acquire_lease(run.id, owner, 30.0)
        assert status() == "running"
        writer.release_lease(run.id, owner)  # a "running" run nobody drives: its driver died
        assert status() == "interrupted"
        writer.acquire_lease(run.id, "elsewhere:999999:dead", 30.0)
        assert status() == "running"  # another host's heartbeat is fresh
        writer.release_lease(run.id, "elsewhere:999999:dead")
        writer.set_status(run.id, "paused")
        assert status() == "paused"


def test_a_new_result_shows_at_the_next_read_without_a_closed_generation(writable_copy) -> None:
    """Ranking and paired answers are cached per run state: a stored result is a new state."""
    with Store(writable_copy) as writer, TestClient(create_app(writable_copy)) as client:
        run = writer.get_run("tiny-r0")
        before = client.get("/api/runs/tiny-r0/ranking").json()["entries"][0]["entry_key"]
        assert client.get("/api/runs/tiny-r0/ranking").json()["entries"][0]["entry_key"] == before  # cached
        newcomer = Genome(term_types=(Term.SIGN_GRAD,), alphas=(0.5,), lr_log10=-2.7)
        following = len(writer.generations(run.id))
        slot = IndividualIn(slot=0, entry_key=newcomer.hash, genome=newcomer, origin="init")
        writer.save_generation(run.id, following, [slot])
        top = client.get("/api/runs/tiny-r0/ranking").json()["entries"][0]["entry_key"]
        assert top == before  # saved, no result yet
        budget = run.scope.budget_key
        writer.record_evaluations([
            EvaluationIn(entry_key=newcomer.hash, task=t, seed=s, budget_key=budget, fitness=9.0, status="ok")
            for t in run.scope.tasks for s in run.scope.seeds
        ])  # fmt: skip
        assert client.get("/api/runs/tiny-r0/ranking").json()["entries"][0]["entry_key"] == newcomer.hash
        assert client.get("/api/runs/tiny-r0/paired").json()["entry"] == newcomer.hash
        assert client.get("/api/runs/tiny-r0").json()["generations_done"] == following  # none closed
