"""The extended term set: LION makes Lion a genome, NADAM makes NAdam one (float64, exact to rounding).

* ``[LION] x1``, beta1 = b2 == ``optimizers.opaque.lion.Lion(betas=(0.9, b2))`` step by step;
* ``[NADAM] x1`` == ``torch.optim.NAdam(momentum_decay=inf, decoupled_weight_decay=True)``
  (mu_t = beta1 for every t) step by step, and == a float64 reference written from Dozat's
  formula (with and without bias correction);
* both formulations of the rule (exact per-tensor loop, fast multi-tensor path) are checked;
* the seven seed terms keep their hashes and fingerprints (golden values from before the
  extension), and the seed's JSON loads unchanged.
"""

from __future__ import annotations

import math

import pytest
import torch

from optimizers import BASELINE_GENOMES, EVO_SEED_BEST, GenomeOptimizer
from optimizers.fingerprint import fingerprint
from optimizers.genome import EXTENDED_TERMS, SEED_TERMS, Genome, Term
from optimizers.opaque.lion import Lion
from optimizers.rule import TERM_NAMES
from optimizers.rule_fast import fast_coefficients

FORMULATIONS = pytest.mark.parametrize("foreach", [False, None], ids=["exact-loop", "fast-multi-tensor"])
STEPS = 60


def _problem(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    start = torch.randn(40, dtype=torch.float64, generator=gen)
    target = torch.randn(40, dtype=torch.float64, generator=gen)
    scale = torch.rand(40, dtype=torch.float64, generator=gen) * 3.0 + 0.1
    return start, target, scale


def _loss(p: torch.Tensor, target: torch.Tensor, scale: torch.Tensor, k: int) -> torch.Tensor:
    """A quartic bowl whose gradient flips sign in places and changes scale over the steps."""
    return (scale * (p - target) ** 2).sum() + (0.3 * math.sin(k) * (p - target) ** 4).sum()


def _follow(ours: torch.optim.Optimizer, p: torch.Tensor, theirs: torch.optim.Optimizer, q: torch.Tensor):
    _, target, scale = _problem()
    for k in range(STEPS):
        for param, opt in ((p, ours), (q, theirs)):
            opt.zero_grad()
            _loss(param, target, scale, k).backward()
            opt.step()
        torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-12, atol=1e-12, msg=f"step {k}")


@FORMULATIONS
@pytest.mark.parametrize("beta2", [0.99, 0.98, 0.5])
def test_lion_genome_is_lion(beta2: float, foreach: bool | None) -> None:
    genome = Genome(
        term_types=[Term.LION], alphas=[1.0], lr_log10=-2.0, beta1=beta2, wd_log10=math.log10(0.3),
        use_bias_correction=True,  # LION reads the raw momentum: the flag must not matter
    )
    start, _, _ = _problem()
    p, q = torch.nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
    lion = Lion([q], lr=genome.lr, betas=(0.9, beta2), weight_decay=genome.weight_decay)
    _follow(GenomeOptimizer([p], genome, total_steps=STEPS, foreach=foreach), p, lion, q)


def _torch_nadam(q: torch.Tensor, genome: Genome) -> torch.optim.Optimizer:
    return torch.optim.NAdam(
        [q], lr=genome.lr, betas=(genome.beta1, genome.beta2), eps=genome.eps,
        weight_decay=genome.weight_decay, momentum_decay=math.inf, decoupled_weight_decay=True,
        foreach=False,
    )


@FORMULATIONS
@pytest.mark.parametrize(("beta1", "beta2"), [(0.9, 0.999), (0.8, 0.95)])
def test_nadam_genome_is_torch_nadam_with_constant_momentum(beta1: float, beta2: float, foreach) -> None:
    genome = Genome(
        term_types=[Term.NADAM], alphas=[1.0], lr_log10=-2.0, beta1=beta1, beta2=beta2,
        eps_log10=-6.0, wd_log10=math.log10(0.2),
    )
    start, _, _ = _problem()
    p, q = torch.nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # NAdam keeps mu_product in the default dtype
    try:
        ours = GenomeOptimizer([p], genome, total_steps=STEPS, foreach=foreach)
        _follow(ours, p, _torch_nadam(q, genome), q)
    finally:
        torch.set_default_dtype(default)


class NadamReference:
    """Dozat's NAdam with mu_t = beta1, decoupled decay, written from the formula in floats."""

    def __init__(self, genome: Genome, start: list[float]) -> None:
        self.g, self.p = genome, list(start)
        self.m, self.v, self.t = [0.0] * len(start), [0.0] * len(start), 0

    def step(self, grads: list[float]) -> None:
        b1, b2, lr, eps, wd = self.g.beta1, self.g.beta2, self.g.lr, self.g.eps, self.g.weight_decay
        self.t += 1
        bc = self.g.use_bias_correction
        c1, c1_next = (1 - b1**self.t, 1 - b1 ** (self.t + 1)) if bc else (1.0, 1.0)
        c2 = 1 - b2**self.t if bc else 1.0
        for i, gi in enumerate(grads):
            self.m[i] = b1 * self.m[i] + (1 - b1) * gi
            self.v[i] = b2 * self.v[i] + (1 - b2) * gi * gi
            direction = (b1 * self.m[i] / c1_next + (1 - b1) * gi / c1) / (math.sqrt(self.v[i] / c2) + eps)
            self.p[i] = self.p[i] * (1 - lr * wd) - lr * direction


@FORMULATIONS
@pytest.mark.parametrize("bias_correction", [True, False])
def test_nadam_genome_matches_the_formula(bias_correction: bool, foreach: bool | None) -> None:
    genome = Genome(
        term_types=[Term.NADAM], alphas=[1.0], lr_log10=-1.5, beta1=0.7, beta2=0.9, eps_log10=-3.0,
        wd_log10=math.log10(0.5), use_bias_correction=bias_correction,
    )
    start, target, scale = _problem(1)
    p = torch.nn.Parameter(start.clone())
    opt = GenomeOptimizer([p], genome, total_steps=STEPS, foreach=foreach)
    ref = NadamReference(genome, start.tolist())
    for k in range(20):
        opt.zero_grad()
        _loss(p, target, scale, k).backward()
        ref.step(p.grad.tolist())
        opt.step()
        want = torch.tensor(ref.p, dtype=torch.float64)
        torch.testing.assert_close(p.detach(), want, rtol=1e-12, atol=1e-12, msg=f"step {k}")


def test_fast_coefficients_need_beta1_for_nadam_only() -> None:
    seven = [1.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0]
    assert fast_coefficients(seven, 0.5, 0.25) == fast_coefficients([*seven, 0.0, 0.0], 0.5, 0.25, 0.9)
    with pytest.raises(ValueError, match="NADAM needs beta1"):
        fast_coefficients([*seven, 0.0, 1.0], 0.5, 0.25)


GOLDEN = {  # hash, fingerprint: computed by the code before the extended terms existed (main 17f816e)
    "sgd_momentum": ("09e5f43272a072c0", "5c97696bdefd2dcf"),
    "adam": ("f3aaf41d40f122e5", "ac867c2af8b27a50"),
    "adamw": ("72a20a049b8dde8e", "e536e9b000be3480"),
    "rmsprop": ("100d08bde21c4df4", "0e4250e555d13b5d"),
    "evo_seed_best": ("09abd2bb6def4c07", "e32514bfeb4afcb8"),
}


@pytest.mark.parametrize("name", list(GOLDEN))
def test_seed_genomes_keep_their_hash_and_fingerprint(name: str) -> None:
    genome = EVO_SEED_BEST if name == "evo_seed_best" else BASELINE_GENOMES[name]
    reloaded = Genome.model_validate(genome.to_seed_dict())  # the seed JSON form loads unchanged
    assert (reloaded.hash, fingerprint(reloaded)) == GOLDEN[name]


def test_term_sets() -> None:
    assert [t.name for t in EXTENDED_TERMS] == list(TERM_NAMES[:9])
    assert [int(t) for t in SEED_TERMS] == list(range(7))
    assert Genome.model_validate({"term_types": [7, "nadam"], "alphas": [1.0, 1.0]}).term_types == (
        Term.LION, Term.NADAM,
    )
    with pytest.raises(ValueError, match=r"0\.\.9"):
        Genome.model_validate({"term_types": [10], "alphas": [1.0]})


def test_extended_terms_have_their_own_fingerprints() -> None:
    """LION is not SIGN_GRAD, NADAM not ADAM_TERM: the probe sees the difference."""
    pairs = [
        (Genome(term_types=[Term.LION], beta1=0.99), Genome(term_types=[Term.SIGN_GRAD], beta1=0.99)),
        (Genome(term_types=[Term.NADAM]), Genome(term_types=[Term.ADAM_TERM])),
        (Genome(term_types=[Term.LION], beta1=0.99), Genome(term_types=[Term.LION], beta1=0.9)),
    ]
    for a, b in pairs:
        assert a.hash != b.hash
        assert fingerprint(a) != fingerprint(b)
