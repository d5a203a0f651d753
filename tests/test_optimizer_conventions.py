"""GenomeOptimizer follows torch.optim's conventions: a table of scenarios run against
``torch.optim.AdamW`` (the ``adam`` genome is AdamW(lr 1e-3, wd 1e-4) step for step)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import pytest
import torch

from optimizers import BASELINE_GENOMES, EVO_SEED_BEST, REGISTRY, Genome, GenomeOptimizer, Term
from optimizers.baselines import LAMB, MUON

ADAM = BASELINE_GENOMES["adam"]
STEPS = 30


def small_model(seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    return model.to(dtype)


def batches(steps: int = STEPS, dtype: torch.dtype = torch.float32):
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        yield torch.randn(32, 6, generator=gen).to(dtype), torch.randn(32, 3, generator=gen).to(dtype)


def loss_of(model, x, y):
    return torch.nn.functional.mse_loss(model(x).float(), y.float())


def plain(model, make, steps=STEPS):
    opt = make(model.parameters())
    for x, y in batches(steps):
        opt.zero_grad()
        loss_of(model, x, y).backward()
        opt.step()
    return opt


def with_scheduler(make_scheduler: Callable, plateau: bool = False):
    def scenario(model, make):
        opt = make(model.parameters())
        scheduler = make_scheduler(opt)
        for x, y in batches():
            opt.zero_grad()
            loss = loss_of(model, x, y)
            loss.backward()
            opt.step()
            scheduler.step(loss.item()) if plateau else scheduler.step()
        return opt

    return scenario


def per_group_lr(model, make):
    opt = make([{"params": model[0].parameters(), "lr": 1e-2}, {"params": model[2].parameters()}])
    for x, y in batches():
        opt.zero_grad()
        loss_of(model, x, y).backward()
        opt.step()
    return opt


def add_group_midway(model, make):
    opt = make(model[0].parameters())
    for k, (x, y) in enumerate(batches()):
        if k == 10:
            opt.add_param_group({"params": model[2].parameters(), "lr": 3e-3})
        opt.zero_grad()
        loss_of(model, x, y).backward()
        opt.step()
    return opt


def state_dict_round_trip(model, make):
    opt = make(model.parameters())
    data = list(batches())
    for x, y in data[:12]:
        opt.zero_grad()
        loss_of(model, x, y).backward()
        opt.step()
    saved = copy.deepcopy(opt.state_dict())
    fresh = make(model.parameters())
    fresh.load_state_dict(saved)
    for x, y in data[12:]:
        fresh.zero_grad()
        loss_of(model, x, y).backward()
        fresh.step()
    return fresh


def grad_scaler(model, make):
    opt = make(model.parameters())
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12)
    for k, (x, y) in enumerate(batches()):
        opt.zero_grad()
        loss = loss_of(model, x, y)
        if k == 5:
            loss = loss * math.inf  # an overflowing step: the scaler must skip it
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    return opt


def deepcopy_midway(model, make):
    opt = make(model.parameters())
    data = list(batches())
    for x, y in data[:10]:
        opt.zero_grad()
        loss_of(model, x, y).backward()
        opt.step()
    twin_model, twin_opt = copy.deepcopy((model, opt))
    for x, y in data[10:]:
        for m, o in ((model, opt), (twin_model, twin_opt)):
            o.zero_grad()
            loss_of(m, x, y).backward()
            o.step()
    for a, b in zip(model.parameters(), twin_model.parameters(), strict=True):
        assert torch.equal(a, b)  # the copy continues exactly like the original
    return opt


SCENARIOS = {
    "plain": plain,
    "StepLR": with_scheduler(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5)),
    "CosineAnnealingLR": with_scheduler(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=STEPS)),
    "LambdaLR": with_scheduler(lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda k: 1 / (1 + k))),
    "ReduceLROnPlateau": with_scheduler(
        lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, factor=0.5, patience=0, threshold=0.5),
        plateau=True,
    ),
    "OneCycleLR": with_scheduler(
        lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=1e-2, total_steps=STEPS)
    ),
    "per-group lr": per_group_lr,
    "add_param_group": add_group_midway,
    "state_dict": state_dict_round_trip,
    "GradScaler": grad_scaler,
    "deepcopy": deepcopy_midway,
    "maximize": lambda model, make: plain(model, lambda p: make(p, maximize=True)),
}


def adamw(params, **kw):
    return torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-4, **kw)


@pytest.mark.parametrize("foreach", [False, True], ids=["loop", "foreach"])
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_matches_adamw(name: str, foreach: bool) -> None:
    scenario = SCENARIOS[name]
    ours, theirs = small_model(), small_model()
    scenario(ours, lambda p, **kw: GenomeOptimizer(p, ADAM, foreach=foreach, **kw))
    scenario(theirs, adamw)
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    assert not torch.equal(ours[0].weight, small_model()[0].weight)  # it trained


def test_hyperparameters_live_in_param_groups_and_default_to_the_genome() -> None:
    opt = GenomeOptimizer(small_model().parameters(), EVO_SEED_BEST)
    group = opt.param_groups[0]
    assert group["lr"] == EVO_SEED_BEST.lr and group["betas"] == (EVO_SEED_BEST.beta1, EVO_SEED_BEST.beta2)
    assert group["eps"] == EVO_SEED_BEST.eps and group["weight_decay"] == EVO_SEED_BEST.weight_decay
    no_m = GenomeOptimizer([torch.nn.Parameter(torch.ones(1))], ADAM.model_copy(update={"use_m": False}))
    assert no_m.param_groups[0]["betas"][0] == 0.0  # an unused moment is beta = 0


def test_param_groups_never_share_mutable_state() -> None:
    model = small_model()
    opt = GenomeOptimizer([{"params": model[0].parameters()}, {"params": model[2].parameters()}], ADAM)
    opt.param_groups[0]["genome"]["term_types"] = [int(Term.SIGN_GRAD)]
    assert opt.param_groups[1]["genome"]["term_types"] == [int(Term.ADAM_TERM)]
    assert opt.defaults["genome"]["term_types"] == [int(Term.ADAM_TERM)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": -1.0}, "Invalid learning rate: -1.0"),
        ({"eps": -1e-8}, "Invalid epsilon value: -1e-08"),
        ({"betas": (1.0, 0.9)}, "Invalid beta parameter at index 0: 1.0"),
        ({"betas": (0.9, -0.1)}, "Invalid beta parameter at index 1: -0.1"),
        ({"weight_decay": -0.1}, "Invalid weight_decay value: -0.1"),
        ({"total_steps": 0}, "Invalid total_steps: 0"),
        ({"schedule": "cosine"}, "Invalid schedule: 'cosine'"),
    ],
)
def test_invalid_hyperparameters_are_refused_with_torch_messages(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        GenomeOptimizer([torch.nn.Parameter(torch.ones(1))], ADAM, **kwargs)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        opt = GenomeOptimizer([torch.nn.Parameter(torch.ones(1))], ADAM)
        opt.add_param_group({"params": [torch.nn.Parameter(torch.ones(1))], **kwargs})


def _lrs(schedule: str, steps: int, total_steps: int) -> list[float]:
    """The lr the step applied, read back from a GRAD genome without decay on w = 0, g = 1."""
    genome = Genome(
        term_types=[Term.GRAD], wd_log10=-30.0, use_warmup=True, warmup_steps=4, use_cosine_decay=True
    )
    w = torch.nn.Parameter(torch.zeros(1))
    opt = GenomeOptimizer([w], genome, total_steps=total_steps, schedule=schedule, lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    out = []
    for _ in range(steps):
        before = w.item()
        w.grad = torch.ones(1)
        opt.step()
        scheduler.step()
        out.append(before - w.item())
    return out


def test_genome_schedule_multiplies_the_schedulers_lr_and_clamps_the_cosine() -> None:
    total = 8
    got = _lrs("genome", 12, total)
    want = [
        0.5 ** (k // 3) * min(1.0, (k + 1) / 4) * 0.5 * (1 + math.cos(math.pi * min(k, total) / total))
        for k in range(12)
    ]
    assert got == pytest.approx(want, abs=1e-6)
    assert got[-1] == pytest.approx(0.0, abs=1e-9)  # past total_steps the lr stays at 0
    assert _lrs("none", 6, total) == pytest.approx([0.5 ** (k // 3) for k in range(6)], abs=1e-6)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("name", sorted(n for n, e in REGISTRY.items() if e.genome is not None))
def test_low_precision_parameters_train_without_nan(name: str, dtype: torch.dtype) -> None:
    model = small_model(dtype=dtype)
    opt = REGISTRY[name].build(model.parameters(), total_steps=40)
    losses = []
    for x, y in batches(40, dtype):
        opt.zero_grad()
        loss = loss_of(model, x, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses), losses
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert all(p.dtype == dtype for p in model.parameters())


@pytest.mark.parametrize(
    ("param", "word"),
    [
        (torch.nn.Parameter(torch.ones(2, dtype=torch.complex64)), "complex"),
        (torch.nn.Parameter(torch.ones(2, 2).to_sparse()), "sparse"),
    ],
    ids=["complex", "sparse"],
)
def test_complex_and_sparse_parameters_are_refused_naming_the_class(param, word) -> None:
    class MyOptimizer(GenomeOptimizer):
        pass

    with pytest.raises(ValueError, match=f"MyOptimizer does not support {word} parameters"):
        MyOptimizer([param], ADAM)


EXTENDED = Genome(term_types=[Term.NADAM, Term.LION], alphas=[1.0, 0.1], use_warmup=True, warmup_steps=3)
"""The extended terms under torch.compile (NADAM's bias corrections from tensor step counts)."""


@pytest.mark.parametrize(
    "genome", [EVO_SEED_BEST, EXTENDED, MUON, LAMB], ids=["evo_seed_best", "nadam_lion", "muon", "lamb"]
)
def test_compiled_step_has_no_graph_break_and_no_recompile_per_step(genome) -> None:
    model = small_model()
    opt = GenomeOptimizer(model.parameters(), genome, total_steps=20)  # warmup, cosine, bias
    eager_model = small_model()
    eager = GenomeOptimizer(eager_model.parameters(), genome, total_steps=20)
    graphs = []

    def counting_backend(gm, _inputs):
        graphs.append(gm)
        return gm.forward

    torch._dynamo.reset()
    step = torch.compile(opt.step, backend=counting_backend, fullgraph=True)  # a graph break raises
    for x, y in batches(6):
        for m, s, o in ((model, step, opt), (eager_model, eager.step, eager)):
            o.zero_grad()
            loss_of(m, x, y).backward()
            s()
    # one graph for the first step (it creates the state), one for every later step
    assert len(graphs) == 2
    for a, b in zip(model.parameters(), eager_model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
