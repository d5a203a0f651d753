"""``evo report``: a small run stored through the real Store (temp SQLite file) is rendered;
the test checks the files, the PNGs (header, size, not blank) and that the numbers in the
report are the ones the test stored, recomputed here independently."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import matplotlib.image
import pytest

from evo.report import plots
from evo.report.markdown import best_per_generation, loss_curves, population_diversity, write_report
from evo.search.aggregation import population_stats
from optimizers.baselines import ADAM
from optimizers.errors import EvoError
from optimizers.genome import Genome, Term
from storage import Store
from storage.errors import UnknownRunError
from storage.records import EvaluationIn, IndividualIn, RunScope

TASKS = ["digits", "two_moons"]
SEEDS = [0, 1]
BUDGET = "steps=10;split=val;v1"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURES = ("fitness.png", "per_task.png", "term_weights.png", "diversity.png", "alme_escapes.png")
ALME_STEPS = [3, 7]
ALME_CURVE = [1.0, 0.8, 0.7, 0.69, 0.69, 0.5, 0.45, 0.44, 0.44, 0.3]


def genome(term: Term, alpha: float, lr_log10: float = -3.0) -> Genome:
    return Genome(term_types=[term], alphas=[alpha], lr_log10=lr_log10)


# Generation 1 holds a duplicate and a NESTEROV genome equal (canonically) to
# 0.1 MOMENTUM + 0.9 GRAD, so it has fewer distinct hashes than slots.
NESTEROV = genome(Term.NESTEROV, 1.0)
NESTEROV_SPLIT = Genome(term_types=[Term.MOMENTUM, Term.GRAD], alphas=[0.1, 0.9])
ADAM_LIKE = genome(Term.ADAM_TERM, 1.0)
POPULATIONS: list[list[Genome]] = [
    [ADAM_LIKE, genome(Term.SIGN_GRAD, 0.5), genome(Term.GRAD, 2.0), genome(Term.RMS_NORM, 1.5)],
    [ADAM_LIKE, ADAM_LIKE, NESTEROV, NESTEROV_SPLIT],
    [genome(Term.SQRT_GRAD, 3.0), ADAM_LIKE, genome(Term.MOMENTUM, 0.7), genome(Term.GRAD, 0.2)],
]


def score(g: Genome, task: str, seed: int) -> float:
    """A deterministic stand-in for training: depends on the update rule, task and seed."""
    weights = g.canonical().term_weights()
    rule = math.tanh(sum((i + 1) * w for i, w in enumerate(weights)) / 10)
    return 0.3 + 0.1 * rule + 0.05 * TASKS.index(task) + 0.01 * seed


def evaluation(key: str, task: str, seed: int, fitness: float, metrics: dict | None = None) -> EvaluationIn:
    return EvaluationIn(
        entry_key=key, task=task, seed=seed, budget_key=BUDGET, metrics=metrics or {}, fitness=fitness,
        status="ok",
    )


def expected_fitness(g: Genome) -> float:
    return sum(sum(score(g, t, s) for s in SEEDS) / len(SEEDS) for t in TASKS) / len(TASKS)


def build_run(store: Store) -> int:
    scope = RunScope(tasks=TASKS, seeds=SEEDS, budget_key=BUDGET)
    run = store.create_run("tiny", {"note": "report test"}, seed=7, scope=scope)
    fixed = [
        IndividualIn(slot=0, entry_key=ADAM.hash, genome=ADAM, origin="fixed", label="adam"),
        IndividualIn(slot=1, entry_key="alme", genome=None, origin="fixed", label="alme"),
    ]
    store.save_generation(run.id, -1, fixed)
    for task in TASKS:
        for seed in SEEDS:
            store.record_evaluation(evaluation(ADAM.hash, task, seed, score(ADAM, task, seed)))
            metrics = (
                {"loss_curve": ALME_CURVE, "loss_curve_steps": list(range(1, len(ALME_CURVE) + 1)),
                 "escape_steps": ALME_STEPS, "escape_count": len(ALME_STEPS)}
                if seed == 0
                else {"escape_count": 0}
            )
            store.record_evaluation(evaluation("alme", task, seed, 0.31, metrics))
    for gen, population in enumerate(POPULATIONS):
        rows = [
            IndividualIn(slot=i, entry_key=g.hash, genome=g, origin="init" if gen == 0 else "mutation")
            for i, g in enumerate(population)
        ]
        store.save_generation(run.id, gen, rows)
        for g in population:
            for task in TASKS:
                for seed in SEEDS:
                    store.record_evaluation(evaluation(g.hash, task, seed, score(g, task, seed)))
        stats = population_stats([expected_fitness(g) for g in population])
        store.close_generation(run.id, gen, stats.best, stats.mean, stats.std, ga_state={"g": gen})
    return run.id


@pytest.fixture(scope="module")
def stored_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, int, Path]:
    folder = tmp_path_factory.mktemp("report")
    store = Store(f"sqlite:///{folder / 'evo.db'}")
    run_id = build_run(store)
    report = write_report(store, run_id, folder / "out")
    yield store, run_id, report
    store.close()


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG signature and IHDR chunk."""
    data = path.read_bytes()[:24]
    assert data[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    assert data[12:16] == b"IHDR", f"{path.name} has no IHDR chunk first"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("name", FIGURES)
def test_figures_are_sensible_pngs(stored_run, name):
    _, _, report = stored_run
    path = report.parent / name
    assert path.is_file()
    width, height = png_size(path)
    assert 400 <= width <= 3000 and 250 <= height <= 2000, (width, height)
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[:2] == (height, width)
    assert pixels[..., :3].std() > 0.02, "the figure is blank"
    assert f"]({name})" in report.read_text(), f"report.md does not embed {name}"


def test_report_tables_carry_the_stored_numbers(stored_run):
    _, _, report = stored_run
    text = report.read_text()
    for gen, population in enumerate(POPULATIONS):
        stats = population_stats([expected_fitness(g) for g in population])
        assert f"| {gen} | {stats.best:.4f} | {stats.mean:.4f} | {stats.std:.4f} |" in text
    assert f"{expected_fitness(ADAM):.4f}" in text
    assert "| alme | digits | 0 | 2 | 3, 7 |" in text
    assert "| alme | two_moons | 1 | 0 | - |" in text


def test_best_per_generation_is_the_argmax(stored_run):
    store, run_id, _ = stored_run
    run = store.get_run(run_id)
    trace = best_per_generation(store, run, range(len(POPULATIONS)))
    assert [t[0] for t in trace] == list(range(len(POPULATIONS)))
    for (_, fitness, best), population in zip(trace, POPULATIONS, strict=True):
        top = max(population, key=expected_fitness)
        assert best.hash == top.hash
        assert fitness == pytest.approx(expected_fitness(top), abs=1e-12)


def test_diversity_counts_canonical_hashes(stored_run):
    store, run_id, _ = stored_run
    rows = population_diversity(store, run_id, range(len(POPULATIONS)))
    expected = [(g, len({x.hash for x in pop}), len(pop)) for g, pop in enumerate(POPULATIONS)]
    assert rows == expected
    assert rows[1][1] == 2  # duplicate Adam; NESTEROV == 0.1 MOMENTUM + 0.9 GRAD


def test_empty_run_writes_a_report_without_figures(tmp_path):
    with Store(f"sqlite:///{tmp_path / 'evo.db'}") as store:
        scope = RunScope(tasks=TASKS, seeds=SEEDS, budget_key=BUDGET)
        run = store.create_run("empty", {}, seed=1, scope=scope)
        report = write_report(store, run.id, tmp_path / "out")
    text = report.read_text()
    assert "No generation has been closed yet" in text
    assert "No evaluation has been recorded yet" in text
    assert not list(report.parent.glob("*.png"))


def test_unknown_run_is_a_clear_error(tmp_path):
    with Store(f"sqlite:///{tmp_path / 'evo.db'}") as store, pytest.raises(UnknownRunError) as info:
        write_report(store, 12345, tmp_path / "out")
    assert isinstance(info.value, EvoError)
    assert not (tmp_path / "out" / "report.md").exists()


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        ({}, ([], [], [], None)),
        (
            {"loss_curve": [2, 1.5], "loss_curve_steps": [5, 10], "escape_steps": [7]},
            ([2.0, 1.5], [5, 10], [7], None),
        ),
        ({"loss_curve": [2, 1.5], "loss_curve_steps": [5]}, ([], [], [], None)),  # mismatched: dropped
        ({"escape_steps": [4], "escape_count": 1.0}, ([], [], [4], 1)),
        ({"escape_count": float("nan")}, ([], [], [], None)),
    ],
)
def test_loss_curve_keys(metrics, expected):
    assert loss_curves(metrics) == expected


def test_alme_without_escape_metrics_gets_a_note_not_a_figure(tmp_path):
    with Store(f"sqlite:///{tmp_path / 'evo.db'}") as store:
        scope = RunScope(tasks=["digits"], seeds=[0], budget_key=BUDGET)
        run = store.create_run("alme", {}, seed=1, scope=scope)
        alme = IndividualIn(slot=0, entry_key="alme", genome=None, origin="fixed", label="alme")
        store.save_generation(run.id, -1, [alme])
        store.record_evaluation(evaluation("alme", "digits", 0, 0.9, {"accuracy": 0.88}))
        report = write_report(store, run.id, tmp_path / "out")
    text = report.read_text()
    assert "The stored ALME metrics carry no escape data" in text
    assert "`escape_steps`" in text
    assert not (report.parent / "alme_escapes.png").exists()
    assert (report.parent / "per_task.png").exists()


def test_fitness_plot_survives_a_generation_without_fitness(tmp_path):
    nan = math.nan
    best, mean, std = [nan, 0.3, 0.2], [nan, 0.1, 0.15], [0.0, 0.1, 0.05]
    path = plots.plot_fitness(tmp_path / "f.png", [0, 1, 2], best, mean, std, {"adam": 0.25})
    assert png_size(path)[0] >= 400
    best_so_far = plots._running_max([nan, 0.3, 0.2])
    assert math.isnan(best_so_far[0]) and best_so_far[1:] == [0.3, 0.3]
