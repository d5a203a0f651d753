"""ALME's escapes and every member's loss curve reach the store and ``evo report``.

A real (tiny, inline) ``evo run`` with ALME as a fixed entry on the quartic 1-D landscape,
where ALME's loss plateaus and it escapes within 200 steps; then ``evo report`` on it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from evo.cli.app import main
from evo.evidence.ranking import best
from storage import Store
from workers.outcome import CURVE_POINTS, loss_curve

STEPS = 200
CONFIG = {
    "seed": 5,
    "tasks": ["qubic_1d_direct"],
    "evaluation": {"steps": STEPS, "seeds": [0], "genomes_per_request": 2, "device": "cpu"},
    "population": {"size": 2, "elites": 1, "tournament_k": 2, "generations": 1},
    "fixed_entries": ["alme", "adam"],
    "executor": {"kind": "inline", "max_retries": 0},
}


def evo(*args: object) -> None:
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        assert not exc.code, f"evo {args[0]} exited with {exc.code}"


@pytest.fixture(scope="module")
def alme_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    root = tmp_path_factory.mktemp("alme")
    config = root / "alme.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    url = f"sqlite:///{root / 'evo.db'}"
    evo("run", config, "--db", url, "--name", "alme")
    return url, root


def test_stored_metrics_hold_loss_curves_and_alme_escapes(alme_run) -> None:
    url, _ = alme_run
    with Store(url) as store:
        run = store.get_run("alme")
        keys = [e.entry_key for e in best(store, run.id, top_k=None)]
        rows = {r.entry_key: r for r in store.evaluations(keys, run.scope.budget_key)}
    alme = rows["alme"].metrics
    assert alme["steps_done"] == STEPS
    assert 0 < len(alme["loss_curve"]) <= CURVE_POINTS
    assert alme["loss_curve_steps"] == [4 * (i + 1) for i in range(CURVE_POINTS)]
    assert alme["escape_count"] == len(alme["escape_steps"]) >= 1
    assert all(1 <= s <= STEPS for s in alme["escape_steps"])
    for key, row in rows.items():  # every member, both training paths, has a curve
        assert len(row.metrics["loss_curve"]) == len(row.metrics["loss_curve_steps"]) > 0, key
        if key != "alme":
            assert "escape_steps" not in row.metrics and "escape_count" not in row.metrics, key


def test_report_shows_the_escapes_and_the_loss_curves(alme_run) -> None:
    url, root = alme_run
    evo("report", "alme", "--db", url, "-o", root / "report")
    text = (root / "report" / "report.md").read_text()
    with Store(url) as store:
        run = store.get_run("alme")
        (row,) = store.evaluations(["alme"], run.scope.budget_key)
    steps = ", ".join(map(str, row.metrics["escape_steps"]))
    assert "## ALME escape events" in text
    assert f"| {row.metrics['escape_count']:g} | {steps} |" in text.replace(".0 |", " |")
    assert (root / "report" / "alme_escapes.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    ("losses", "points", "curve", "steps"),
    [
        ([], 50, [], []),
        ([4.0, 2.0, 3.0], 50, [4.0, 2.0, 3.0], [1, 2, 3]),
        ([1.0, 3.0, 5.0, 7.0, 9.0], 2, [2.0, 7.0], [2, 5]),  # windows of 2 and 3 steps
        ([1.0, 3.0, float("nan")], 3, [1.0, 3.0], [1, 2]),  # a diverging step is left out
    ],
)
def test_loss_curve_window_means(losses, points, curve, steps) -> None:
    assert loss_curve(losses, points) == (curve, steps)
