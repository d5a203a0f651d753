"""RuleOptimizer's cached step plan moves no number.

Eager steps build the rule's coefficients and lr-independent scalars once per group (again
when its genome, betas, eps or weight decay change), lr and decay once per lr, and on the CPU
run ``foreach=False``'s exact formulation on runs of tensors instead of one tensor at a time.
Here the parameters and moments after every step are compared bit for bit with the per-step
formulation written out from the public helpers (coefficients, schedule, scalars and bias
corrections rebuilt every step, :func:`rule_update_` on one tensor at a time), through lr
schedulers, hyperparameter and genome edits mid-run, a state_dict round trip and mixed
float32/float64 parameters; and the fast path (``foreach=True``) with its plan against the
same optimizer building everything per step.
"""

from __future__ import annotations

import copy

import pytest
import torch

import optimizers.rule_fast as rule_fast
from optimizers import BASELINE_GENOMES, EVO_SEED_BEST, Genome, GenomeOptimizer, Term
from optimizers.rule import (
    bias_correction,
    rule_coefficients,
    rule_update_,
    scheduled_lr,
    step_scalars,
)
from optimizers.rule_optimizer import RuleOptimizer

STEPS = 30
SCHEDULED = Genome(
    term_types=[Term.NESTEROV, Term.SQRT_GRAD, Term.RMS_NORM, Term.SIGN_GRAD],
    alphas=[0.5, 0.2, 1.0, 0.05],
    use_gradient_clipping=True,
    clip_value=0.05,
    use_warmup=True,
    warmup_steps=7,
    use_cosine_decay=True,
)
COSINE_ONLY = Genome(term_types=[Term.ADAM_TERM, Term.MOMENTUM], alphas=[1.0, 0.3], use_cosine_decay=True)
GENOMES = {**BASELINE_GENOMES, "evo_seed_best": EVO_SEED_BEST, "scheduled": SCHEDULED, "cosine": COSINE_ONLY}
SHAPES = [(40, 7), (40,), (9, 40), (9,), (3, 3, 2)]


class PerStep:
    """The exact formulation rebuilt from the group's hyperparameters at every step, one
    tensor at a time (what ``RuleOptimizer(foreach=False)`` computed before its plan)."""

    def __init__(self, params: list[torch.Tensor], total_steps: int) -> None:
        self.params = params
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.t = [0] * len(params)
        self.total_steps = total_steps
        self.k = 0

    @torch.no_grad()
    def step(self, group: dict) -> None:
        genome = group["genome"]
        for dtype in (torch.float32, torch.float64):
            wide = dtype == torch.float64
            idx = [i for i, p in enumerate(self.params) if p.grad is not None]
            idx = [i for i in idx if (self.params[i].dtype == torch.float64) == wide]
            if not idx:
                continue
            coef = rule_coefficients(genome, dtype=dtype)
            coef["beta1"] = torch.as_tensor(group["betas"][0], dtype=dtype)
            coef["beta2"] = torch.as_tensor(group["betas"][1], dtype=dtype)
            coef["eps"] = torch.as_tensor(group["eps"], dtype=dtype)
            coef["weight_decay"] = torch.as_tensor(group["weight_decay"], dtype=dtype)
            lr = torch.as_tensor(group["lr"], dtype=dtype)
            lr = scheduled_lr(coef, torch.tensor(float(self.k)), self.total_steps, lr)
            s = step_scalars(coef, lr)
            for i in idx:
                p = self.params[i]
                self.t[i] += 1
                bc1 = bc2 = None
                if genome["use_bias_correction"]:
                    bc1 = bias_correction(coef["beta1"], self.t[i])
                    bc2 = bias_correction(coef["beta2"], self.t[i])
                rule_update_(
                    [p], [p.grad], [self.m[i]], [self.v[i]], s, bc1, bc2, coef["active_terms"],
                    bool(genome["use_gradient_clipping"]), False, coef["unit_terms"],
                )  # fmt: skip
        self.k += 1


Tensors = list[torch.Tensor]


def make_params(dtypes: list[torch.dtype]) -> tuple[Tensors, Tensors, Tensors]:
    gen = torch.Generator().manual_seed(3)
    start = [torch.randn(*s, generator=gen).to(d) for s, d in zip(SHAPES, dtypes, strict=True)]
    targets = [torch.randn(*s, generator=gen).to(d) for s, d in zip(SHAPES, dtypes, strict=True)]
    return start, targets, [p.clone() for p in start]


def set_grads(params: list[torch.Tensor], targets: list[torch.Tensor], k: int) -> None:
    """Gradients of step k; parameter 1 has none at steps 3-5 (its step count lags: the
    tensors of a bucket then have their own bias corrections)."""
    for i, (p, t) in enumerate(zip(params, targets, strict=True)):
        p.grad = None if i == 1 and 3 <= k <= 5 else ((p.detach() - t) * (1.0 + 0.1 * k)).clone()


def edit_mid_run(opt: torch.optim.Optimizer, k: int) -> None:
    """Hyperparameter and genome edits a user (or a search) may make between steps."""
    group = opt.param_groups[0]
    if k == 8:
        group["betas"] = (0.8, 0.99)
    if k == 12:
        group["eps"] = 1e-6
    if k == 15:
        group["weight_decay"] = 0.03
    if k == 18:
        group["genome"]["alphas"][0] = 0.75  # in place: the plan must see it
    if k == 21:
        group["genome"]["use_cosine_decay"] = not group["genome"]["use_cosine_decay"]
    if k == 22:
        group["lr"] = torch.tensor(3e-3)  # a tensor lr: read every step (it may change in place)
    if k == 25:
        group["lr"].mul_(0.5)
    if k == 27:
        group["lr"] = 2e-3


def assert_same(got: list[torch.Tensor], want: list[torch.Tensor], what: str) -> None:
    for a, b in zip(got, want, strict=True):
        assert a.dtype == b.dtype and torch.equal(a, b), what


@pytest.mark.parametrize("edits", [False, True], ids=["plain", "edited"])
@pytest.mark.parametrize("dtypes", ["fp32", "mixed"])
@pytest.mark.parametrize("name", sorted(GENOMES))
def test_exact_path_with_plan_is_bitwise_the_per_step_formulation(
    name: str, dtypes: str, edits: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rule_fast, "CHUNK_ELEMENTS", 300)  # several runs of tensors per bucket
    kinds = [torch.float32] * 5 if dtypes == "fp32" else [torch.float32, torch.float64] * 2 + [torch.float32]
    start, targets, twins = make_params(kinds)
    params = [torch.nn.Parameter(p) for p in start]
    opt = GenomeOptimizer(params, GENOMES[name], total_steps=STEPS - 5, foreach=False)
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.7)
    reference = PerStep(twins, STEPS - 5)
    for k in range(STEPS):
        if edits:
            edit_mid_run(opt, k)
        if k == 14:  # a state_dict round trip into a fresh optimizer: new groups, new plan
            saved = copy.deepcopy(opt.state_dict())
            opt = GenomeOptimizer(params, GENOMES[name], total_steps=STEPS - 5, foreach=False)
            opt.load_state_dict(saved)
            scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.7, last_epoch=k - 1)
        set_grads(params, targets, k)
        set_grads(twins, targets, k)
        reference.step(opt.param_groups[0])
        opt.step()
        scheduler.step()
        assert_same([p.detach() for p in params], twins, f"{name} params at step {k}")
        assert_same([opt.state[p]["exp_avg"] for p in params], reference.m, f"{name} m at step {k}")
        assert_same([opt.state[p]["exp_avg_sq"] for p in params], reference.v, f"{name} v at step {k}")


@pytest.mark.parametrize("name", sorted(GENOMES))
def test_fast_path_with_plan_is_bitwise_the_per_step_build(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def run(plan: bool) -> Tensors:
        if not plan:  # the per-step build (as under torch.compile)
            monkeypatch.setattr(RuleOptimizer, "_plan", lambda self, group, dtype: None)
        start, targets, _ = make_params([torch.float32, torch.float64] * 2 + [torch.float32])
        params = [torch.nn.Parameter(p) for p in start]
        opt = GenomeOptimizer(params, GENOMES[name], total_steps=STEPS - 5, foreach=True)
        scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.7)
        for k in range(STEPS):
            edit_mid_run(opt, k)
            set_grads(params, targets, k)
            opt.step()
            scheduler.step()
        monkeypatch.undo()
        moments = [opt.state[p][key] for p in params for key in ("exp_avg", "exp_avg_sq")]
        return [p.detach() for p in params] + moments

    assert_same(run(plan=True), run(plan=False), name)
