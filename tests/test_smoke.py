"""CleanRL-style smoke test: the real ``evo run configs/quick.yaml`` entry point, tiny budget.

A subprocess runs the console script exactly as a user would (its own local Ray cluster,
real actors, real data, SQLite file), with overrides that shrink the budget to seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from evo.evidence.ranking import best
from storage import FIXED_GENERATION, Store

ROOT = Path(__file__).resolve().parents[1]
EVO = Path(sys.executable).with_name("evo")
QUICK = ROOT / "configs" / "quick.yaml"
TINY_BUDGET = [
    "population.size=4",
    "population.elites=1",
    "population.tournament_k=2",
    "population.generations=2",
    "evaluation.steps=4",
    "evaluation.seeds=[0]",
    "executor.num_actors=2",
]


@pytest.mark.skipif(not QUICK.exists(), reason="configs/quick.yaml is not there yet")
def test_evo_run_quick_yaml_end_to_end(tmp_path: Path) -> None:
    db = tmp_path / "quick.db"
    url = f"sqlite:///{db}"
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "COLUMNS": "200"}
    proc = subprocess.run(
        [str(EVO), "run", str(QUICK), "--db", url, "--name", "smoke", *TINY_BUDGET],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Traceback" not in proc.stderr
    assert "generation 2/2" in proc.stderr, proc.stderr  # the per-generation line (not a TTY)
    assert "finished" in proc.stderr

    with Store(url) as store:
        run = store.get_run("smoke")
        assert run.status == "finished"
        assert run.config["executor"]["kind"] == "ray"
        assert [g.index for g in store.generations(run.id)] == [0, 1]
        assert all(store.missing_evaluations(run.id, g) == [] for g in (FIXED_GENERATION, 0, 1))
        ranked = best(store, run.id, top_k=None)
        fixed = [e for e in ranked if e.is_fixed]
        assert fixed and all(e.complete for e in fixed)
        rows = store.evaluations([e.entry_key for e in ranked], run.scope.budget_key)
        assert rows and {r.task for r in rows} == set(run.scope.tasks)
        assert all(r.status != "failed" for r in rows), [r.error for r in rows if r.status == "failed"][:3]
        assert any(r.worker for r in rows)
    # the final table names the fixed entries it compares against
    assert all((e.label or "") in proc.stdout for e in fixed)
