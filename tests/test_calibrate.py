"""``evo calibrate``: the lr sweep picks the best rate on the validation split and writes it.

* On ``f(x) = x^2 / 2`` plain gradient descent (one GRAD term, no decay) has a known best rate:
  eta = 1 lands on the minimum in one step, every other rate of the grid leaves |1 - eta| |x|.
  A default of 1 stays the pick; a default of 0.01 is beaten by the largest rate of its grid.
* End to end on a built-in landscape: a too-small default is replaced in the written file
  (read back by importing it), whose header records every rate of the sweep.
* Bad input is one line and exit 2, and nothing is written.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from cli_helpers import evo
from exported_files import load_module

from evo.calibrate.exported_file import read_exported
from evo.calibrate.sweep import GRID_DECADES, sweep_lr
from evo.report.optimizer_file import write_optimizer_file
from optimizers import GenomeOptimizer
from optimizers.baselines import ADAM
from optimizers.genome import Genome, Term

DESCENT = Genome(term_types=[Term.GRAD], alphas=[1.0], lr_log10=0.0, wd_log10=-30.0)
"""p <- p - lr g: on x^2 / 2 the rate 1 is exact in one step."""


def quadratic_score(genome: Genome) -> list[tuple[float, bool]]:
    """Trains ``genome`` 5 steps on x^2 / 2 from x = 3 (two seeds: two starts); fitness -loss."""
    out = []
    for start in (3.0, -2.0):
        x = torch.nn.Parameter(torch.tensor([start], dtype=torch.float64))
        opt = GenomeOptimizer([x], genome, total_steps=5)
        for _ in range(5):
            opt.zero_grad()
            (0.5 * x**2).sum().backward()
            opt.step()
        loss = float(0.5 * x.detach() ** 2)
        out.append((-loss if math.isfinite(loss) else -1.0, not math.isfinite(loss)))
    return out


def test_a_default_that_is_already_best_stays_the_pick() -> None:
    sweep = sweep_lr(DESCENT, "quadratic", 5, [0, 1], quadratic_score)
    assert [p.decade for p in sweep.points] == list(GRID_DECADES)
    assert sweep.pick.decade == 0.0 and sweep.pick.fitness == 0.0
    assert sweep.genome(DESCENT) is DESCENT
    assert all(p.fitness < 0.0 for p in sweep.points if p.decade != 0.0)


def test_a_too_small_default_is_beaten() -> None:
    small = DESCENT.model_copy(update={"lr_log10": -2.0})
    sweep = sweep_lr(small, "quadratic", 5, [0, 1], quadratic_score)
    assert sweep.pick.decade == max(GRID_DECADES)  # 10^-0.5: the rate closest to the best, 1
    assert math.isclose(sweep.genome(small).lr, 10**-0.5)


def test_ties_go_to_the_default() -> None:
    flat = sweep_lr(DESCENT, "flat", 5, [0], lambda genome: [(0.5, False)])
    assert flat.pick.decade == 0.0



def test_calibrate_writes_the_pick_as_the_default_lr(tmp_path: Path, capsys) -> None:
    source = write_optimizer_file(
        ADAM.model_copy(update={"lr_log10": -4.0}), tmp_path / "slow.py", class_name="Slow", total_steps=40
    )
    out = tmp_path / "fast.py"
    task = ("--task", "six_hump_camel_direct", "--steps", 40)
    code, stdout, err = evo(capsys, "calibrate", source, *task, "-o", out)
    assert code == 0, err
    module = load_module(out)
    lr = module.Slow.__init__.__defaults__[0]
    assert lr > 1e-4 and math.isclose(lr, 10.0 ** module.GENOME["lr_log10"])
    assert read_exported(out).total_steps == 40
    header = module.__doc__
    assert "evo calibrate of slow.py" in header and "six_hump_camel_direct" in header
    assert header.count("(x10^") == len(GRID_DECADES) and "(default)" in header
    rows = [line.split() for line in stdout.splitlines() if "fitness" in line]  # lr X fitness F [mark]
    picked = [row for row in rows if "pick" in row]
    assert len(picked) == 1 and math.isclose(float(picked[0][1]), lr, rel_tol=1e-2)
    assert float(picked[0][3]) == max(float(row[3]) for row in rows)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["missing.py", "--task", "digits"], "no such exported optimizer file"),
        (["{src}", "--task", "no_such_task"], "unknown task"),
        (["{bad}", "--task", "digits"], "not a file written by `evo export`"),
        (["{src}", "--task", "digits", "-o", "{src}"], "new file"),
    ],
)
def test_bad_calibrate_requests_are_one_line_errors(tmp_path: Path, capsys, args, words) -> None:
    src = write_optimizer_file(ADAM, tmp_path / "adam.py")
    bad = tmp_path / "bad.py"
    bad.write_text("x = 1\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = evo(capsys, "calibrate", *(a.format(src=src, bad=bad) for a in args))
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
