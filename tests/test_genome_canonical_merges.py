"""Genomes that compute the same update share one canonical hash (the cache reuses one score),
and genomes that do not, do not: the merges of ``Genome.canonical`` one by one, each with a
one-step training check that the merged pair really is the same optimizer."""

from __future__ import annotations

import pytest
import torch

from optimizers import GenomeOptimizer
from optimizers.genome import Genome, Term

G, M, RMS, ADAM, SIGN = Term.GRAD, Term.MOMENTUM, Term.RMS_NORM, Term.ADAM_TERM, Term.SIGN_GRAD
LION, NADAM = Term.LION, Term.NADAM

SAME = {
    "GRAD + MOMENTUM without m is GRAD": (
        dict(term_types=[G, M], alphas=[0.3, 0.5], use_m=False),
        dict(term_types=[G], alphas=[0.8], use_m=False),
    ),
    "RMS_NORM + ADAM_TERM without m is RMS_NORM": (
        dict(term_types=[RMS, ADAM], alphas=[0.3, 0.5], use_m=False),
        dict(term_types=[RMS], alphas=[0.8], use_m=False),
    ),
    "beta2 unread without v-terms": (
        dict(term_types=[SIGN], alphas=[1.0], beta2=0.9),
        dict(term_types=[SIGN], alphas=[1.0], beta2=0.99),
    ),
    "use_v unread without v-terms": (
        dict(term_types=[M], alphas=[1.0], use_v=True),
        dict(term_types=[M], alphas=[1.0], use_v=False),
    ),
    "use_m unread without m-terms": (
        dict(term_types=[SIGN], alphas=[1.0], use_m=True),
        dict(term_types=[SIGN], alphas=[1.0], use_m=False),
    ),
    "bias correction unread when neither moment is kept": (
        dict(term_types=[G], alphas=[1.0], use_m=False, use_v=False, use_bias_correction=True),
        dict(term_types=[G], alphas=[1.0], use_m=False, use_v=False, use_bias_correction=False),
    ),
    "bias correction unread by SIGN_GRAD even with v kept": (
        dict(term_types=[SIGN], alphas=[1.0], use_m=False, use_v=True, use_bias_correction=True),
        dict(term_types=[SIGN], alphas=[1.0], use_m=False, use_v=True, use_bias_correction=False),
    ),
    "warmup_steps unread without warmup": (
        dict(term_types=[G], alphas=[1.0], use_warmup=False, warmup_steps=10),
        dict(term_types=[G], alphas=[1.0], use_warmup=False, warmup_steps=500),
    ),
    "-0.0 is 0.0": (
        dict(term_types=[ADAM], alphas=[1.0], lr_log10=-0.0, wd_log10=-4.0),
        dict(term_types=[ADAM], alphas=[1.0], lr_log10=0.0, wd_log10=-4.0),
    ),
    "NADAM without m is RMS_NORM": (
        dict(term_types=[NADAM], alphas=[0.7], use_m=False),
        dict(term_types=[RMS], alphas=[0.7], use_m=False),
    ),
    "NADAM without bias correction is beta1 ADAM_TERM + (1 - beta1) RMS_NORM": (
        dict(term_types=[NADAM], alphas=[2.0], beta1=0.75, use_bias_correction=False),
        dict(term_types=[ADAM, RMS], alphas=[1.5, 0.5], beta1=0.75, use_bias_correction=False),
    ),
    "LION reads no v, no eps, no bias correction": (
        dict(term_types=[LION], beta2=0.9, eps_log10=-3.0, use_v=True, use_bias_correction=True),
        dict(term_types=[LION], beta2=0.99, eps_log10=-8.0, use_v=False, use_bias_correction=False),
    ),
    "floats equal to 10 significant digits": (
        dict(term_types=[ADAM], alphas=[1.0], lr_log10=-3.0),
        dict(term_types=[ADAM], alphas=[1.0], lr_log10=-3.0 + 1e-13),
    ),
}

DIFFERENT = {
    "beta2 read by ADAM_TERM": (
        dict(term_types=[ADAM], alphas=[1.0], beta2=0.9),
        dict(term_types=[ADAM], alphas=[1.0], beta2=0.99),
    ),
    "bias correction read with m": (
        dict(term_types=[M], alphas=[1.0], use_bias_correction=True),
        dict(term_types=[M], alphas=[1.0], use_bias_correction=False),
    ),
    "beta1 read by LION": (
        dict(term_types=[LION], alphas=[1.0], beta1=0.9),
        dict(term_types=[LION], alphas=[1.0], beta1=0.99),
    ),
    "bias correction read by NADAM": (
        dict(term_types=[NADAM], alphas=[1.0], use_bias_correction=True),
        dict(term_types=[NADAM], alphas=[1.0], use_bias_correction=False),
    ),
    "beta2 and eps read by NADAM": (
        dict(term_types=[NADAM], alphas=[1.0], beta2=0.9, eps_log10=-3.0),
        dict(term_types=[NADAM], alphas=[1.0], beta2=0.99, eps_log10=-8.0),
    ),
    "warmup_steps read with warmup": (
        dict(term_types=[G], alphas=[1.0], use_warmup=True, warmup_steps=10),
        dict(term_types=[G], alphas=[1.0], use_warmup=True, warmup_steps=500),
    ),
}


def two_steps(genome: Genome) -> torch.Tensor:
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64))
    opt = GenomeOptimizer([p], genome, total_steps=10, foreach=False)
    for scale in (1.0, -0.5):
        opt.zero_grad()
        (scale * (p**3).sum()).backward()
        opt.step()
    return p.detach()


@pytest.mark.parametrize("case", list(SAME), ids=list(SAME))
def test_equivalent_genomes_share_a_hash(case: str) -> None:
    a, b = (Genome(**fields) for fields in SAME[case])
    assert a.hash == b.hash
    torch.testing.assert_close(two_steps(a), two_steps(b), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", list(DIFFERENT), ids=list(DIFFERENT))
def test_genomes_with_different_updates_do_not(case: str) -> None:
    a, b = (Genome(**fields) for fields in DIFFERENT[case])
    assert a.hash != b.hash
    assert not torch.equal(two_steps(a), two_steps(b))


def test_a_copy_made_before_any_hash_was_computed_has_its_own() -> None:
    genome = Genome(term_types=[ADAM], alphas=[1.0])
    copied = genome.model_copy(update={"lr_log10": -2.0})  # no cached hash to drop yet
    assert copied.hash != genome.hash == Genome(term_types=[ADAM], alphas=[1.0]).hash


@pytest.mark.parametrize("spelling", ["ADAM_TERM", " adam_term ", "Term.ADAM_TERM", "term.adam_term", 3, 3.0])
def test_a_term_is_read_from_its_seed_spellings(spelling) -> None:
    assert Genome(term_types=[spelling], alphas=[1.0]).term_types == (ADAM,)
