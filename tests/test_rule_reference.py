"""The update rule pinned exactly where tolerant trajectory tests cannot see a slip.

* eps placement of every term that divides by it, where |g| is of the order of eps
  (``g / (|g| + eps)`` differs from ``g / max(|g|, eps)`` by a factor up to 2 there);
* warmup / cosine schedules combined with decoupled weight decay against
  ``torch.optim.AdamW`` driven by a ``LambdaLR`` with the same schedule (the decay must use
  the *scheduled* lr);
* the order of decoupled weight decay (before the update) against a hand-written float64
  reference, with lr * wd large enough that an ``lr^2 wd`` difference is of order one.

Everything runs through the public ``GenomeOptimizer`` in float64.
"""

from __future__ import annotations

import math

import pytest
import torch

from optimizers.genome import Genome, Term
from optimizers.genome_optimizer import GenomeOptimizer

EPS_TERMS = (Term.RMS_NORM, Term.ADAM_TERM, Term.SQRT_GRAD)


FORMULATIONS = pytest.mark.parametrize("foreach", [False, None], ids=["exact-loop", "fast-multi-tensor"])
"""Both formulations of the rule (``optimizers.rule``): the exact per-tensor one the workers
evaluate with, and the fast multi-tensor default; float64 parameters get float64 scalars."""


@FORMULATIONS
@pytest.mark.parametrize("term", EPS_TERMS, ids=lambda t: t.name)
def test_eps_terms_divide_by_abs_g_plus_eps_where_g_is_near_eps(term: Term, foreach: bool | None) -> None:
    """Without m and v (m = g, v = g^2) each eps term is exactly g / (|g| + eps)."""
    genome = Genome(
        term_types=[term], alphas=[1.0], lr_log10=0.0, eps_log10=-3.0, wd_log10=-30.0,
        use_m=False, use_v=False, use_bias_correction=False,
    )
    eps = genome.eps
    g = torch.tensor([eps, -eps, 0.5 * eps, 3.0 * eps, -0.25 * eps, 0.0, 1e3 * eps], dtype=torch.float64)
    p = torch.nn.Parameter(torch.zeros_like(g))
    p.grad = g.clone()
    GenomeOptimizer([p], genome, total_steps=10, foreach=foreach).step()
    # p = 0 - lr * 1 * direction, lr = 1, decay (1 - 1e-30) == 1 in float64
    expected = -(g / (g.abs() + eps))
    torch.testing.assert_close(p.detach(), expected, rtol=1e-12, atol=0.0)
    assert p[0].item() == pytest.approx(-0.5, rel=1e-12)  # |g| = eps: half a sign step


def _schedule(warmup: int | None, total: int, cosine: bool):
    def factor(k: int) -> float:
        w = min(1.0, (k + 1) / warmup) if warmup else 1.0
        c = 0.5 * (1.0 + math.cos(math.pi * k / total)) if cosine else 1.0
        return w * c

    return factor


@FORMULATIONS
@pytest.mark.parametrize(("warmup", "cosine"), [(True, False), (False, True), (True, True)])
def test_scheduled_adam_with_weight_decay_matches_adamw_with_lambdalr(
    warmup: bool, cosine: bool, foreach: bool | None
) -> None:
    """ADAM_TERM + decoupled wd + schedule == AdamW whose lr (wd included) follows LambdaLR."""
    total, warmup_steps, steps = 12, 5, 12
    genome = Genome(
        term_types=[Term.ADAM_TERM], alphas=[1.0], lr_log10=-1.0, beta1=0.8, beta2=0.95,
        eps_log10=-6.0, wd_log10=math.log10(0.5), use_warmup=warmup, warmup_steps=warmup_steps,
        use_cosine_decay=cosine,
    )
    gen = torch.Generator().manual_seed(3)
    start = torch.randn(6, dtype=torch.float64, generator=gen) * 2.0
    target = torch.randn(6, dtype=torch.float64, generator=gen)
    ours = torch.nn.Parameter(start.clone())
    ref = torch.nn.Parameter(start.clone())
    opt = GenomeOptimizer([ours], genome, total_steps=total, foreach=foreach)
    adamw = torch.optim.AdamW(
        [ref], lr=genome.lr, betas=(genome.beta1, genome.beta2), eps=genome.eps,
        weight_decay=genome.weight_decay, foreach=False,
    )
    factor = _schedule(warmup_steps if warmup else None, total, cosine)
    sched = torch.optim.lr_scheduler.LambdaLR(adamw, factor)
    for _ in range(steps):
        for p, o in ((ours, opt), (ref, adamw)):
            o.zero_grad()
            ((p - target) ** 4).sum().backward()
            o.step()
        sched.step()
        torch.testing.assert_close(ours.detach(), ref.detach(), rtol=1e-12, atol=1e-12)


@FORMULATIONS
def test_weight_decay_is_applied_before_the_update_exactly(foreach: bool | None) -> None:
    """p <- p (1 - lr wd) - lr sum_j alpha_j T_j: float64, exact to rounding.

    With lr = 0.5 and wd = 0.8 the other order, (p - lr d)(1 - lr wd), differs by
    lr^2 wd d = 0.2 d per step.
    """
    genome = Genome(
        term_types=[Term.GRAD, Term.SIGN_GRAD], alphas=[1.0, 0.25], lr_log10=math.log10(0.5),
        wd_log10=math.log10(0.8), use_m=False, use_v=False, use_bias_correction=False,
    )
    lr, wd = genome.lr, genome.weight_decay
    coeff = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.25, 4.0], dtype=torch.float64))
    opt = GenomeOptimizer([p], genome, total_steps=100, foreach=foreach)
    expected = [float(x) for x in p.detach()]
    for _ in range(4):
        opt.zero_grad()
        (coeff * p**2).sum().backward()  # g = 2 c p
        grads = [2.0 * float(c) * x for c, x in zip(coeff, expected, strict=True)]
        opt.step()
        expected = [
            x * (1.0 - lr * wd) - lr * (1.0 * gi + 0.25 * math.copysign(1.0, gi))
            for x, gi in zip(expected, grads, strict=True)
        ]
        torch.testing.assert_close(
            p.detach(), torch.tensor(expected, dtype=torch.float64), rtol=1e-12, atol=1e-12
        )
