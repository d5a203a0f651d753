"""The exported file as its user reads it: named after what it exports, a docstring for a
PyTorch user, and only the code its class needs (the exactness tests are test_export.py's)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
from cli_helpers import evo
from exported_files import load_module

from optimizers.baselines import ADAM, EVO_SEED_BEST, RMSPROP
from optimizers.export import render_optimizer_source, rule_source
from optimizers.export_text import prune, rule_lines
from optimizers.genome import Genome, Term


def test_registry_adam_exports_as_adam_with_a_users_docstring(tmp_path: Path, capsys) -> None:
    target = tmp_path / "adam_optimizer.py"
    code, _, err = evo(capsys, "export", "--genome", "adam", "-o", target, "--db", f"sqlite:///{tmp_path}/x.db")
    assert code == 0, err
    source = target.read_text()
    module = load_module(target)
    doc = module.__doc__
    assert doc.startswith("AdamOptimizer: a PyTorch optimizer exported by evo.")
    assert "Known optimizer: Adam." in doc
    assert "from adam_optimizer import AdamOptimizer" in doc and "optimizer.step()" in doc
    for developer_text in (":mod:", ":func:", "despite the seed's name", "optimizers.export", "workers"):
        assert developer_text not in source, developer_text
    assert not hasattr(module, "EvolvedOptimizer")
    assert len(source.splitlines()) < 969  # every term's code and the developers' docstrings
    for unused_feature in ("j == ORTHO", "ortho_terms(", 'c.get("ortho", 0.0) != 0.0', '"trust_decay" in s'):
        assert unused_feature not in source, unused_feature  # Muon's and LAMB's code paths
    w = torch.nn.Parameter(torch.ones(3))
    module.AdamOptimizer([w]).step()  # no gradient: nothing happens, nothing fails


def test_only_the_genomes_terms_are_in_the_exact_path() -> None:
    _, full = rule_source()
    pruned = prune(full, {int(Term.ADAM_TERM)})
    ast.parse(pruned)
    assert "if j == 3:  # ADAM_TERM" in pruned
    for other in set(Term) - {Term.ADAM_TERM}:
        assert f"j == {int(other)}:" not in pruned and f"j == {other.name}:" not in pruned, other
    assert "def _nadam_coefficients" not in pruned and "def population_update_" not in pruned
    assert 'raise ValueError(f"Invalid term: {j}")' in pruned  # another genome's term fails loudly
    assert '"""' not in pruned  # no docstrings left


def test_a_chain_whose_first_kept_branch_was_an_elif_still_parses() -> None:
    _, full = rule_source()
    pruned = prune(full, {int(Term.SQRT_GRAD)})
    ast.parse(pruned)
    assert "        if j == 5:  # SQRT_GRAD" in pruned


@pytest.mark.parametrize(
    ("genome", "lines"),
    [
        (RMSPROP, ["v = 0.99 v + 0.01 g^2", "p = p - lr (g / (sqrt(v) + 1e-08))"]),
        (ADAM, ["m_hat = m / (1 - 0.9^t); v_hat = v / (1 - 0.999^t)", "p = p (1 - lr 0.0001)"]),
        (EVO_SEED_BEST, ["w = min(1, (k + 1) / 100)", "lr_t = lr w c", "3.6352 m / (sqrt(v) + 5.44202e-09)"]),
        (  # written raw, described canonically: 0.5 + 0.5 GRAD and 1 NESTEROV = 1.4 g + 0.1 m
            Genome(term_types=(Term.GRAD, Term.GRAD, Term.NESTEROV), alphas=(0.5, 0.5, 1.0), use_v=False),
            ["p = p - lr (1.9 g + 0.1 m_hat)", "m_hat = m / (1 - 0.9^t)"],
        ),
    ],
)
def test_the_docstring_writes_the_canonical_rule_with_its_numbers(genome: Genome, lines: list[str]) -> None:
    text = "\n".join(rule_lines(genome))
    assert all(line in text for line in lines), text
    assert all(line in render_optimizer_source(genome, "X") for line in lines)
