"""``evo export``: a registry genome without a run, and the provenance header from a run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from cli_helpers import evo
from exported_files import load_module

from evo.evidence.ranking import best as ranked_entries
from optimizers import BASELINE_GENOMES, GenomeOptimizer
from storage import Store

TINY = {
    "seed": 3,
    "tasks": ["qubic_1d_direct", "two_moons"],
    "evaluation": {"steps": 6, "seeds": [0, 1], "genomes_per_request": 4, "device": "cpu"},
    "population": {"size": 4, "elites": 1, "tournament_k": 2, "generations": 2},
    "fixed_entries": ["adam", "evo_seed_best"],
    "executor": {"kind": "inline", "max_retries": 0},
}



def test_a_registry_genome_exports_without_a_run(tmp_path: Path, capsys) -> None:
    target = tmp_path / "adam_export.py"
    code, _, err = evo(
        capsys, "export", "--genome", "adam", "-o", target, "--db", f"sqlite:///{tmp_path}/none.db"
    )
    assert code == 0, err
    source = target.read_text()
    assert "fixed entry 'adam' of evo's optimizer registry" in source
    module = load_module(target, "adam_export")
    assert "p = p - lr (m_hat / (sqrt(v_hat) + 1e-08))" in module.__doc__  # the rule, with its numbers
    w1, w2 = torch.nn.Parameter(torch.randn(5)), None
    w2 = torch.nn.Parameter(w1.detach().clone())
    a, b = module.AdamOptimizer([w1]), GenomeOptimizer([w2], BASELINE_GENOMES["adam"])
    assert a.param_groups[0]["lr"] == 1e-3 and a.param_groups[0]["betas"] == (0.9, 0.999)
    for _ in range(5):
        for w, opt in ((w1, a), (w2, b)):
            opt.zero_grad()
            (w**2).sum().backward()
            opt.step()
    assert torch.equal(w1, w2)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["export"], ["RUN", "--genome"]),
        (["export", "--genome", "lion"], ["lion", "not a genome entry"]),
        (["export", "--genome", "0123ab"], ["RUN"]),
    ],
    ids=["nothing", "opaque entry", "hash without run"],
)
def test_bad_export_requests_are_one_line_errors(tmp_path: Path, capsys, args, words) -> None:
    code, _, err = evo(capsys, *args, "-o", tmp_path / "x.py", "--db", f"sqlite:///{tmp_path}/none.db")
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert all(w in err for w in words) and not (tmp_path / "x.py").exists()


def test_export_from_a_run_records_its_provenance(tmp_path: Path, capsys) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    url = f"sqlite:///{tmp_path}/evo.db"
    code, _, err = evo(capsys, "run", config, "--db", url, "--name", "prov")
    assert code == 0, err
    target = tmp_path / "winner.py"
    code, _, err = evo(capsys, "export", "prov", "--db", url, "-o", target)
    assert code == 0, err
    source = target.read_text()
    with Store(url) as store:
        run = store.get_run("prov")
        ranked = ranked_entries(store, run.id, top_k=None)
        winner = next(e for e in ranked if not e.is_fixed and e.genome is not None)
        holders = [
            (g.index, i)
            for g in store.generations(run.id)
            for i in store.individuals(run.id, g.index)
            if i.genome is not None and i.genome.hash == winner.genome.hash
        ]
    generation, individual = holders[0]
    assert f"Genome {winner.genome.hash} (canonical hash)" in source
    assert f"run: prov, generation {generation}" in source
    assert f"parents: {', '.join(individual.parents) or '-'}" in source
    assert "tasks: qubic_1d_direct, two_moons; seeds: [0, 1]" in source
    for entry in [winner, *(e for e in ranked if e.is_fixed)]:
        prefix = f"{entry.label} " if entry.label else "exported "
        line = next(x for x in source.splitlines() if x.strip().startswith(prefix))
        assert f"{entry.fitness:.4f}" in line and all(f"{v:.4f}" in line for v in entry.per_task.values())
    assert "evo 0.1.0" in source or "evo unknown" in source
