"""Lion: the paper's update rule, its sign-step property, and its reduction to the SIGN_GRAD genome."""

from __future__ import annotations

import math

import pytest
import torch

from optimizers.genome import Genome, Term
from optimizers.genome_optimizer import GenomeOptimizer
from optimizers.opaque.lion import Lion


def reference_lion(p, grads, lr, beta1, beta2, wd):
    """Algorithm 2 of Chen et al. (2023), written out element by element in float64."""
    p, m = list(p), [0.0] * len(p)
    for g in grads:
        for i, gi in enumerate(g):
            c = beta1 * m[i] + (1 - beta1) * gi
            p[i] = p[i] * (1 - lr * wd) - lr * math.copysign(1.0, c) * (c != 0)
            m[i] = beta2 * m[i] + (1 - beta2) * gi
    return p


def test_matches_the_paper_algorithm() -> None:
    g = torch.Generator().manual_seed(0)
    grads = [torch.randn(6, generator=g, dtype=torch.float64) for _ in range(15)]
    w = torch.nn.Parameter(torch.linspace(-1, 1, 6, dtype=torch.float64))
    start = w.detach().tolist()
    opt = Lion([w], lr=0.03, betas=(0.8, 0.95), weight_decay=0.2)
    for grad in grads:
        w.grad = grad.clone()
        opt.step()
    expected = reference_lion(start, [gr.tolist() for gr in grads], 0.03, 0.8, 0.95, 0.2)
    expected_tensor = torch.tensor(expected, dtype=torch.float64)
    torch.testing.assert_close(w.detach(), expected_tensor, rtol=1e-12, atol=1e-12)


def test_every_coordinate_moves_exactly_lr_without_decay() -> None:
    w = torch.nn.Parameter(torch.zeros(50, dtype=torch.float64))
    opt = Lion([w], lr=0.01)
    g = torch.Generator().manual_seed(1)
    for _ in range(5):
        w.grad = torch.randn(50, generator=g, dtype=torch.float64) * 100.0
        before = w.detach().clone()
        opt.step()
        torch.testing.assert_close((w.detach() - before).abs(), torch.full((50,), 0.01, dtype=torch.float64))


def test_beta1_zero_is_the_sign_grad_genome_with_decoupled_decay() -> None:
    """sign(0*m + g) = sign(g): Lion(beta1=0) and the genome [SIGN_GRAD] are one rule."""
    genome = Genome(term_types=[Term.SIGN_GRAD], alphas=[1.0], lr_log10=-2.0, wd_log10=-1.0)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 2))
    twin = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 2))
    twin.load_state_dict(model.state_dict())
    lion = Lion(model.parameters(), lr=0.01, betas=(0.0, 0.99), weight_decay=0.1)
    rule = GenomeOptimizer(twin.parameters(), genome, total_steps=100)
    x = torch.randn(32, 5, generator=torch.Generator().manual_seed(1))
    for net, opt in ((model, lion), (twin, rule)):
        for _ in range(25):
            opt.zero_grad()
            net(x).pow(2).mean().backward()
            opt.step()
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_defaults_and_validation() -> None:
    opt = Lion([torch.nn.Parameter(torch.zeros(1))])
    defaults = opt.defaults
    assert (defaults["lr"], defaults["betas"], defaults["weight_decay"]) == (1e-4, (0.9, 0.99), 0.0)
    bad = (({"lr": float("nan")}, "lr"), ({"betas": (0.9,)}, "betas"), ({"betas": (-0.1, 0.9)}, "betas"))
    for kwargs, name in bad:
        with pytest.raises(ValueError, match=name):
            Lion([torch.nn.Parameter(torch.zeros(1))], **kwargs)
