"""The GA's own ranking of a finished run (evo.evidence.search_order), computed by hand from the
stored rows, and what ``evo export`` / ``evo best`` make of it."""

from __future__ import annotations

import statistics

import pytest
from typer.testing import CliRunner

from evo.cli.app import app
from evo.config.schema import parse_config
from evo.evidence.ranking import best
from evo.evidence.search_order import ranked_genomes
from evo.execution.inline import InlineExecutor
from evo.runner.driver import Driver, create_run
from evo.search.lr_variants import genome_variant_keys
from storage import Store
from tests.test_driver import tiny_config

MULTS = [0.3, 1.0, 3.0]
ROBUST = {
    "seed": 5,  # a GA seed whose two orders disagree on the rank-1 (seeds 1-4 agree there)
    "evaluation__lr_multipliers": MULTS,
    "evaluation__lr_aggregate": "mean",
    "population__generations": 2,
}


@pytest.fixture(scope="module")
def robust_run(tmp_path_factory):
    """A finished run whose GA fitness is the mean over 0.3x/1x/3x lr (no normalisation)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('robust') / 'evo.db'}"
    cfg = parse_config(tiny_config(**ROBUST))
    with Store(url) as store, InlineExecutor(max_retries=0) as executor:
        Driver(store, create_run(store, cfg, "t"), executor).run()
    return url, cfg


def _hand_search_fitness(store: Store, cfg, key: str, genome) -> float:
    """mean over tasks of mean over seeds of mean over the lr variants' stored fitness."""
    cells = {}
    for variant in genome_variant_keys(genome, key, MULTS):
        for row in store.evaluations([variant], cfg.budget_key):
            cells.setdefault((row.task, row.seed), []).append(row.fitness)
    assert len(cells) == len(cfg.tasks) * len(cfg.evaluation.seeds)
    assert all(len(v) == len(MULTS) for v in cells.values())
    per_task = [
        statistics.fmean(statistics.fmean(cells[(t, s)]) for s in cfg.evaluation.seeds) for t in cfg.tasks
    ]
    return statistics.fmean(per_task)


def test_search_order_is_the_lr_mean_fitness_computed_from_the_rows(robust_run) -> None:
    url, cfg = robust_run
    with Store(url, read_only=True) as store:
        run = store.get_run("t")
        ranked = ranked_genomes(store, run, "search")
        mean_order = ranked_genomes(store, run, "mean")
        assert {r.entry_key for r in ranked} == {r.entry_key for r in mean_order}
        for r in ranked:
            hand = _hand_search_fitness(store, cfg, r.entry_key, r.genome)
            assert r.fitness == pytest.approx(hand, abs=1e-12)
        assert [r.fitness for r in ranked] == sorted((r.fitness for r in ranked), reverse=True)
        # the mean order is evo best's: fitness at the genome's own lr only
        evolved = [e.entry_key for e in best(store, run.id, top_k=None) if not e.is_fixed]
        assert [r.entry_key for r in mean_order] == evolved
        assert [r.entry_key for r in ranked] != evolved  # this run's two orders differ


def test_export_writes_the_search_rank1_and_mean_on_request(robust_run, tmp_path) -> None:
    url, _ = robust_run
    with Store(url, read_only=True) as store:
        run = store.get_run("t")
        search1 = ranked_genomes(store, run, "search")[0]
        mean1 = ranked_genomes(store, run, "mean")[0]
    assert search1.entry_key != mean1.entry_key
    runner = CliRunner()
    written = {}
    for by in ("search", "mean"):
        out = tmp_path / f"{by}.py"
        result = runner.invoke(app, ["export", "t", "--db", url, "-o", str(out), "--by", by])
        assert result.exit_code == 0, result.output
        written[by] = out.read_text()
    assert search1.genome.hash in written["search"] and mean1.genome.hash not in written["search"]
    assert mean1.genome.hash in written["mean"]
    (tmp_path / "default").mkdir()
    default = tmp_path / "default" / "search.py"  # same file name: the usage example names it
    assert runner.invoke(app, ["export", "t", "--db", url, "-o", str(default)]).exit_code == 0
    assert default.read_text() == written["search"]
    shown = runner.invoke(app, ["best", "t", "--db", url, "--top", "1"])
    assert f"ranks {search1.entry_key[:10]} first" in shown.output


def test_default_fitness_ranks_alike_and_best_says_nothing_more(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'evo.db'}"
    cfg = parse_config(tiny_config(population__generations=2))
    with Store(url) as store, InlineExecutor(max_retries=0) as executor:
        Driver(store, create_run(store, cfg, "t"), executor).run()
        run = store.get_run("t")
        search = [r.entry_key for r in ranked_genomes(store, run, "search")]
        assert search == [r.entry_key for r in ranked_genomes(store, run, "mean")]
        assert search == [e.entry_key for e in best(store, run.id, top_k=None) if not e.is_fixed]
    shown = CliRunner().invoke(app, ["best", "t", "--db", url, "--top", "1"])
    assert shown.exit_code == 0 and "the GA's own fitness" not in shown.output

