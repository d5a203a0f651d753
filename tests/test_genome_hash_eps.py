"""The canonical hash reads eps exactly when the update does.

For every term (and with / without m and v) two genomes that differ only in ``eps_log10``
must share a hash iff one optimizer step of each gives the same parameters: a hash that
ignored eps for an eps-reading term would let one genome reuse the other's cached score.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from optimizers.genome import Genome, Term
from optimizers.genome_optimizer import GenomeOptimizer


def _one_step(genome: Genome) -> torch.Tensor:
    # |g| comparable to both eps values, so any term dividing by (|g| + eps) sees eps.
    g = torch.tensor([1e-7, -3e-7, 2e-6, -5e-8], dtype=torch.float64)
    p = torch.nn.Parameter(torch.ones_like(g))
    p.grad = g.clone()
    GenomeOptimizer([p], genome, total_steps=10).step()
    return p.detach()


@pytest.mark.parametrize(
    ("term", "use_m", "use_v"),
    list(itertools.product(Term, (True, False), (True, False))),
    ids=lambda v: v.name if isinstance(v, Term) else str(v),
)
def test_hash_depends_on_eps_iff_the_update_does(term: Term, use_m: bool, use_v: bool) -> None:
    base = {"term_types": [term], "alphas": [1.0], "lr_log10": 0.0, "use_m": use_m, "use_v": use_v}
    small, large = Genome(**base, eps_log10=-8.0), Genome(**base, eps_log10=-6.0)
    same_update = torch.equal(_one_step(small), _one_step(large))
    # ORTHO on this 1-D probe is the ADAM_TERM (a matrix: Newton-Schulz, which eps does not enter)
    reads_eps = term in (Term.RMS_NORM, Term.ADAM_TERM, Term.SQRT_GRAD, Term.NADAM, Term.ORTHO)
    assert same_update is not reads_eps  # the probe does see eps exactly for these terms
    assert (small.hash == large.hash) is same_update, (term.name, use_m, use_v)


def test_eps_reaches_the_hash_next_to_a_term_that_ignores_it() -> None:
    base = {"term_types": [Term.GRAD, Term.SQRT_GRAD], "alphas": [1.0, 0.5]}
    assert Genome(**base, eps_log10=-8.0).hash != Genome(**base, eps_log10=-7.0).hash
