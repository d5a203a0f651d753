"""The one update rule: GenomeOptimizer vs torch.optim, population axis vs per-model."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from genome_strategies import genomes
from hypothesis import example, given, settings
from hypothesis import strategies as st

from optimizers import BASELINE_GENOMES, EVO_SEED_BEST, Genome, GenomeOptimizer, Term
from optimizers.rule import rule_coefficients, rule_step, scheduled_lr

NO_DECAY = {"wd_log10": -30.0}  # 1 - lr * 1e-30 == 1 in float32: no weight decay


def small_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))


def follow(model_a, opt_a, model_b, opt_b, steps: int) -> float:
    """Train both copies on the same batches; return the largest parameter gap seen."""
    gen = torch.Generator().manual_seed(1)
    worst = 0.0
    for _ in range(steps):
        x = torch.randn(32, 6, generator=gen)
        y = torch.randn(32, 3, generator=gen)
        for model, opt in ((model_a, opt_a), (model_b, opt_b)):
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            opt.step()
        pairs = zip(model_a.parameters(), model_b.parameters(), strict=True)
        gap = max((a - b).abs().max().item() for a, b in pairs)
        worst = max(worst, gap)
    return worst


@pytest.mark.parametrize(
    ("genome", "make_torch"),
    [
        (BASELINE_GENOMES["adam"], lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=1e-4)),
        (BASELINE_GENOMES["adamw"], lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=1e-2)),
        (BASELINE_GENOMES["adam"].model_copy(update=NO_DECAY), lambda p: torch.optim.Adam(p, lr=1e-3)),
        (
            BASELINE_GENOMES["rmsprop"].model_copy(update=NO_DECAY),
            lambda p: torch.optim.RMSprop(p, lr=1e-3, alpha=0.99, eps=1e-8),
        ),
        (
            Genome(term_types=[Term.GRAD], lr_log10=-2.0, **NO_DECAY),
            lambda p: torch.optim.SGD(p, lr=1e-2),
        ),
    ],
    ids=["adam=AdamW(1e-4)", "adamw=AdamW(1e-2)", "adam-nowd=Adam", "rmsprop=RMSprop", "grad=SGD"],
)
def test_genome_follows_torch_optim_step_for_step(genome: Genome, make_torch) -> None:
    ours, theirs = small_model(), small_model()
    gap = follow(
        ours,
        GenomeOptimizer(ours.parameters(), genome, total_steps=100),
        theirs,
        make_torch(theirs.parameters()),
        steps=100,
    )
    assert gap < 1e-6


def test_sgd_momentum_genome_is_heavy_ball_with_dampening() -> None:
    """m <- 0.9 m + 0.1 g, p -= 1e-2 m: torch SGD (momentum 0.9, dampening 0.9) from step 2 on.

    torch seeds its buffer with g itself on step 1, so the two differ by 0.9 g_1 in the
    buffer; we start torch's buffer at 0.1 g_1 by hand to compare the recursions.
    """
    genome = BASELINE_GENOMES["sgd_momentum"].model_copy(update=NO_DECAY)
    ours, theirs = small_model(), small_model()
    opt_theirs = torch.optim.SGD(theirs.parameters(), lr=1e-2, momentum=0.9, dampening=0.9)
    for p in theirs.parameters():
        opt_theirs.state[p]["momentum_buffer"] = torch.zeros_like(p)
    gap = follow(ours, GenomeOptimizer(ours.parameters(), genome, 100), theirs, opt_theirs, steps=100)
    assert gap < 1e-6


def test_schedule_is_warmup_times_cosine() -> None:
    coef = rule_coefficients({**EVO_SEED_BEST.to_seed_dict(), "warmup_steps": 10})
    lr = EVO_SEED_BEST.lr
    got = [scheduled_lr(coef, k, 100).item() for k in (0, 4, 9, 10, 50, 100)]
    want = [
        lr * (k + 1) / 10 * 0.5 * (1 + math.cos(math.pi * k / 100))
        if k < 10
        else lr * 0.5 * (1 + math.cos(math.pi * k / 100))
        for k in (0, 4, 9, 10, 50, 100)
    ]
    assert got == pytest.approx(want, rel=1e-6, abs=1e-12)
    assert got[-1] == pytest.approx(0.0, abs=1e-12)


def test_element_wise_clipping_bounds_the_gradient_seen_by_terms() -> None:
    genome = Genome(
        term_types=[Term.GRAD], lr_log10=0.0, use_gradient_clipping=True, clip_value=0.5, **NO_DECAY
    )
    w = torch.nn.Parameter(torch.zeros(3))
    w.grad = torch.tensor([10.0, -0.2, -7.0])
    GenomeOptimizer([w], genome).step()
    torch.testing.assert_close(w.detach(), torch.tensor([-0.5, 0.2, 0.5]))


def stacked_run(genome_list: list[Genome], steps: int) -> list[torch.Tensor]:
    """Train P copies of w in ONE population update per step."""
    population = len(genome_list)
    torch.manual_seed(0)
    w0 = torch.randn(8, 4)
    target = torch.randn(8, 4)
    scale = torch.linspace(0.2, 2.0, 4)
    w = w0.expand(population, 8, 4).clone().requires_grad_(True)  # [P, 8, 4]
    m, v = torch.zeros_like(w), torch.zeros_like(w)
    coef = rule_coefficients([g.to_seed_dict() for g in genome_list])
    for k in range(steps):
        loss = (((w - target) ** 2) * scale).sum(dim=(1, 2))  # [P]
        (grad,) = torch.autograd.grad(loss.sum(), w)
        with torch.no_grad():
            new_w, m, v = rule_step(w, grad, m, v, k + 1, scheduled_lr(coef, k, steps), coef)
            w.copy_(new_w)
    return [w[i].detach() for i in range(population)]


def single_run(genome: Genome, steps: int) -> torch.Tensor:
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(8, 4))
    target = torch.randn(8, 4)
    scale = torch.linspace(0.2, 2.0, 4)
    # foreach=False: the exact formulation, as the workers' sequential path (the fast multi-tensor
    # one differs by rounding, which a chaotic random genome amplifies over 40 steps)
    opt = GenomeOptimizer([w], genome, total_steps=steps, foreach=False)
    for _ in range(steps):
        opt.zero_grad()
        (((w - target) ** 2) * scale).sum().backward()
        opt.step()
    return w.detach()


EXTENDED = [  # the extended set's terms alone and mixed with the seed's
    Genome(term_types=[Term.LION], alphas=[1.0], beta1=0.99, lr_log10=-2.0),
    Genome(term_types=[Term.NADAM], alphas=[1.0], beta2=0.99, lr_log10=-2.0),
    Genome(
        term_types=[Term.NADAM, Term.LION, Term.SIGN_GRAD],
        alphas=[0.7, 0.1, -0.05],
        use_bias_correction=False,
    ),
]


def test_population_of_fixed_genomes_equals_separate_optimizers() -> None:
    population = [*BASELINE_GENOMES.values(), EVO_SEED_BEST, *EXTENDED]
    for got, genome in zip(stacked_run(population, 60), population, strict=True):
        torch.testing.assert_close(got, single_run(genome, 60), rtol=0, atol=1e-6)


WITHOUT_ORTHO = tuple(t for t in Term if t is not Term.ORTHO)


@settings(max_examples=15, deadline=None)
@given(st.lists(genomes(terms=WITHOUT_ORTHO), min_size=5, max_size=5))
def test_population_of_random_genomes_equals_separate_optimizers(population: list[Genome]) -> None:
    """Whole 40-step runs; ORTHO is left to the step-by-step test below (its bfloat16
    Newton-Schulz rounds apart on the two paths, which a chaotic genome amplifies)."""
    for got, genome in zip(stacked_run(population, 40), population, strict=True):
        want = single_run(genome, 40)
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6, equal_nan=True)


NS_ROUNDING = 2.0**-5
"""Bound on |NS_batched - NS_2d| per entry: Newton-Schulz runs in bfloat16, on the population
axis with batched products (``baddbmm``) and per model with torch.optim.Muon's 2-D ``addmm``,
which round the fused ``a X + B X`` apart; entries are at most about 1 and differ by a few
bfloat16 ulps (2^-8 in [0.5, 1)); measured up to 3 ulps over 2,400 random matrices."""


CI_ORTHO_CASE = Genome(  # its Newton-Schulz rounds apart at step 18 on two CPUs
    term_types=[Term.ORTHO, Term.GRAD, Term.RMS_NORM, Term.GRAD],
    alphas=[0.75, 1.0, 1.0, 1.5],
    lr_log10=-2.0,
    beta1=0.5,
    beta2=0.9375,
    use_m=False,
    use_v=False,
    use_bias_correction=False,
    use_cosine_decay=True,
)


@settings(max_examples=15, deadline=None)
@given(st.lists(genomes(first=Term.ORTHO), min_size=5, max_size=5))
@example([Genome(term_types=[Term.GRAD], alphas=[0.0], lr_log10=-2.0)] * 4 + [CI_ORTHO_CASE])
def test_population_step_with_ortho_equals_the_per_model_step_to_bfloat16_rounding(
    population: list[Genome],
) -> None:
    """Every step of each model's own optimizer (the exact loop), redone for all five at once by
    one population step from the same parameters, gradients and moments, differs by at most
    lr_t |alpha_ORTHO| 0.2 sqrt(8) NS_ROUNDING (the ORTHO term's rounding) plus float32 rounding."""
    steps = 40
    torch.manual_seed(0)
    w0, target, scale = torch.randn(8, 4), torch.randn(8, 4), torch.linspace(0.2, 2.0, 4)
    params = [torch.nn.Parameter(w0.clone()) for _ in population]
    optims = [
        GenomeOptimizer([p], g, total_steps=steps, foreach=False)
        for p, g in zip(params, population, strict=True)
    ]
    coef = rule_coefficients([g.to_seed_dict() for g in population])
    ortho_weight = torch.tensor(  # every ORTHO slot's |alpha|
        [
            sum(abs(a) for t, a in zip(g.term_types, g.alphas, strict=True) if t is Term.ORTHO)
            for g in population
        ]
    ).view(-1, 1, 1)
    for k in range(steps):
        for p, opt in zip(params, optims, strict=True):
            opt.zero_grad()
            (((p - target) ** 2) * scale).sum().backward()
        with torch.no_grad():
            w = torch.stack([p.detach().clone() for p in params])
            grad = torch.stack([p.grad for p in params])
            states = [opt.state[p] for p, opt in zip(params, optims, strict=True)]
            moments = [
                [s.get(key, torch.zeros_like(w0)) for s in states] for key in ("exp_avg", "exp_avg_sq")
            ]
            lr = scheduled_lr(coef, k, steps)
            together, _, _ = rule_step(w, grad, *(torch.stack(m) for m in moments), k + 1, lr, coef)
        for opt in optims:
            opt.step()
        apart = torch.stack([p.detach() for p in params])
        bound = lr.view(-1, 1, 1) * ortho_weight * 0.2 * math.sqrt(8) * NS_ROUNDING + 1e-6 * (1 + apart.abs())
        gap = (together - apart).abs()
        assert (gap <= bound).all() or apart.isnan().any(), (k, gap.max())


def test_param_groups_may_carry_their_own_genome() -> None:
    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    opt = GenomeOptimizer(
        [{"params": [a]}, {"params": [b], "genome": Genome(term_types=[Term.SIGN_GRAD], lr_log10=-1)}],
        BASELINE_GENOMES["adam"],
    )
    a.grad, b.grad = torch.full((3,), 5.0), torch.full((3,), 5.0)
    opt.step()
    assert torch.allclose(b.detach(), torch.full((3,), 1.0 * (1 - 0.1 * 1e-4) - 0.1))
    assert torch.allclose(a.detach(), torch.full((3,), 1.0 * (1 - 1e-3 * 1e-4) - 1e-3), atol=1e-7)


def test_state_dict_round_trip_continues_identically() -> None:
    def make():
        model = small_model()
        return model, GenomeOptimizer(model.parameters(), EVO_SEED_BEST, total_steps=40)

    model_a, opt_a = make()
    model_b, opt_b = make()
    follow(model_a, opt_a, model_b, opt_b, steps=15)
    saved = copy.deepcopy(opt_a.state_dict())
    assert saved["param_groups"][0]["step"] == 15
    assert all(
        torch.is_tensor(s["step"]) and s["step"] == 15 for s in saved["state"].values()
    )  # as torch.optim
    model_c = copy.deepcopy(model_a)
    opt_c = GenomeOptimizer(model_c.parameters(), BASELINE_GENOMES["adam"], total_steps=1)
    opt_c.load_state_dict(saved)  # restores genome, schedule position and moments
    assert follow(model_a, opt_a, model_c, opt_c, steps=15) == 0.0


def test_behaves_like_torch_optim() -> None:
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = GenomeOptimizer([w], BASELINE_GENOMES["adam"])

    def closure():
        opt.zero_grad()
        loss = (w**2).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == pytest.approx(5.0)
    assert w.grad is not None  # step() does not zero gradients (unlike the seed's helper)
    opt.zero_grad()
    assert w.grad is None
    untouched = torch.nn.Parameter(torch.ones(2))
    opt.add_param_group({"params": [untouched]})
    opt.step()  # no grad: skipped, no state created
    assert untouched not in opt.state


@pytest.mark.parametrize("bad", [0, -5, 2.5, True])
def test_invalid_total_steps_is_refused(bad) -> None:
    with pytest.raises(ValueError, match="total_steps"):
        GenomeOptimizer([torch.nn.Parameter(torch.ones(1))], BASELINE_GENOMES["adam"], total_steps=bad)
