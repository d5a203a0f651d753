"""``evo report`` and ``evo landscape`` progress: a bar on a terminal, silence elsewhere, and
exactly as many steps as the bar's total."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from evo.cli.step_progress import step_bar
from evo.report.markdown import report_steps, write_report
from storage import Store
from storage.records import RunScope


def test_step_bar_draws_on_a_terminal_only() -> None:
    terminal, pipe = io.StringIO(), io.StringIO()
    for stream, is_terminal in ((terminal, True), (pipe, False)):
        console = Console(file=stream, force_terminal=is_terminal, width=100)
        with step_bar("report tiny", 2, console) as done:
            done("fitness")
            done("per task")
    assert "report tiny" in terminal.getvalue() and "done: per task" in terminal.getvalue()
    assert pipe.getvalue() == ""


@pytest.mark.parametrize("landscape_steps", [0, 3])
def test_report_reports_every_step_it_counts(tmp_path, landscape_steps) -> None:
    """A run without evaluations draws no landscape; the bar still reaches its total."""
    with Store(f"sqlite:///{tmp_path / 'evo.db'}") as store:
        scope = RunScope(tasks=["digits"], seeds=[0], budget_key="steps=10;split=val;v1")
        run = store.create_run("empty", {}, seed=1, scope=scope)
        calls: list[str] = []
        write_report(store, run.id, tmp_path / "out", landscape_steps=landscape_steps, progress=calls.append)
    assert len(calls) == report_steps(landscape_steps > 0)
    assert calls[-1] == "report.md and index.html"
