"""The exported standalone file reproduces GenomeOptimizer exactly, and refuses injection."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from genome_strategies import genomes
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from evo.report.optimizer_file import write_optimizer_file
from optimizers import BASELINE_GENOMES, EVO_SEED_BEST, Genome, GenomeOptimizer, Term
from optimizers.export import render_optimizer_source

STEPS = 200
RANDOM_STEPS = 60
"""Shorter trajectories for the random genomes: a failing example must fail fast."""
FIXED = {
    **BASELINE_GENOMES,
    "evo_seed_best": EVO_SEED_BEST,
    "lion": Genome(term_types=[Term.LION], alphas=[1.0], beta1=0.99, lr_log10=-3.0, wd_log10=-1.0),
    "nadam_lion": Genome(term_types=[Term.NADAM, Term.LION], alphas=[1.0, 0.1], beta2=0.99),
}

# Runs in a fresh interpreter with only the exported files on sys.path (no evo packages).
RUNNER = textwrap.dedent(
    """
    import importlib, json, sys
    import torch
    torch.set_num_threads(1)
    sys.path.insert(0, sys.argv[1])
    out = {}
    steps = int(sys.argv[3])
    for module_name in json.loads(sys.argv[2]):
        module = importlib.import_module(module_name)
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
        opt = module.Exported(model.parameters(), total_steps=steps)
        gen = torch.Generator().manual_seed(1)
        for _ in range(steps):
            x, y = torch.randn(16, 5, generator=gen), torch.randn(16, 2, generator=gen)
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            opt.step()
        out[module_name] = [p.detach().flatten().tolist() for p in model.parameters()]
    assert "optimizers" not in sys.modules and "evo" not in sys.modules
    print(json.dumps(out))
    """
)


def reference_trajectory(genome: Genome, steps: int = STEPS) -> list[list[float]]:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    opt = GenomeOptimizer(model.parameters(), genome, total_steps=steps)
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x, y = torch.randn(16, 5, generator=gen), torch.randn(16, 2, generator=gen)
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    return [p.detach().flatten().tolist() for p in model.parameters()]


def run_exported(folder: Path, named: dict[str, Genome], steps: int = STEPS) -> dict[str, list[list[float]]]:
    for module_name, genome in named.items():
        write_optimizer_file(genome, folder / f"{module_name}.py", class_name="Exported", total_steps=steps)
    proc = subprocess.run(
        [sys.executable, "-I", "-c", RUNNER, str(folder), json.dumps(list(named)), str(steps)],
        capture_output=True, text=True, cwd=folder, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_exported_fixed_genomes_match_exactly(tmp_path: Path) -> None:
    results = run_exported(tmp_path, {f"opt_{name}": g for name, g in FIXED.items()})
    for name, genome in FIXED.items():
        assert results[f"opt_{name}"] == reference_trajectory(genome), name


# Each example costs a fresh interpreter: few, small examples and no shrinking (a failure
# reports its unshrunk genomes at once instead of minutes of re-running the subprocess).
@settings(
    max_examples=3, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(genomes(), min_size=4, max_size=4))
def test_exported_random_genomes_match_exactly(tmp_path_factory, population: list[Genome]) -> None:
    folder = tmp_path_factory.mktemp("export")
    named = {f"opt_{i}": g for i, g in enumerate(population)}
    results = run_exported(folder, named, RANDOM_STEPS)
    for module_name, genome in named.items():
        want, got = reference_trajectory(genome, RANDOM_STEPS), results[module_name]
        # NaN != NaN: compare as strings so a diverged genome must diverge identically
        assert json.dumps(got) == json.dumps(want), genome.describe()


def test_exported_file_imports_only_torch_and_math() -> None:
    source = render_optimizer_source(EVO_SEED_BEST, "EvolvedOptimizer")
    imports = {line.split()[1] for line in source.splitlines() if line.startswith(("import ", "from "))}
    assert imports == {"math", "torch"}
    assert "class EvolvedOptimizer(RuleOptimizer):" in source


@pytest.mark.parametrize(
    "name",
    ["Bad Name", "X(torch.optim.Optimizer):\n    import os", "os.system", "class", "9lives", "", "Ünïcode",
     "RuleOptimizer"],
)
def test_bad_class_names_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="class_name"):
        write_optimizer_file(EVO_SEED_BEST, tmp_path / "x.py", class_name=name)
    assert not (tmp_path / "x.py").exists()


def test_injected_genome_values_are_refused() -> None:
    payload = "__import__('os').system('echo pwned')"
    with pytest.raises(ValueError):
        render_optimizer_source({**EVO_SEED_BEST.to_seed_dict(), "alphas": [payload] * 4})
    forged = Genome.model_construct(**{**EVO_SEED_BEST.to_seed_dict(), "lr_log10": payload})
    with pytest.raises(ValueError):
        render_optimizer_source(forged)
    with pytest.raises(ValueError):
        render_optimizer_source({**EVO_SEED_BEST.to_seed_dict(), "extra": payload})
