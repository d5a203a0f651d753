"""One table over every fixed comparison entry of ``optimizers.registry.REGISTRY``.

Each entry (genome and opaque alike) must: declare its kind, build from
``model.parameters()`` and from param groups, step a small model through
``step(closure)``, lower a convex loss, round-trip ``state_dict`` (as plain data that
``torch.load(weights_only=True)`` accepts) and reject each of its invalid hyperparameters
with a ``ValueError`` naming the argument.
"""

from __future__ import annotations

import copy
import io
import math
import re

import pytest
import torch

from optimizers.genome_optimizer import GenomeOptimizer
from optimizers.registry import REGISTRY, get_entry

NAMES = sorted(REGISTRY)
EXPECTED_OPAQUE = {"alme", "azure_sky", "lion", "nadam", "radam", "adagrad"} | (
    {"adafactor"} if hasattr(torch.optim, "Adafactor") else set()
)
ARGUMENT_WORDS = {"lr": ("lr", "learning rate"), "eps": ("eps", "epsilon"), "betas": ("betas", "beta")}
"""torch.optim names some arguments in words ("Invalid learning rate"); these count as naming them."""


def small_model() -> torch.nn.Sequential:
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))


def make_closure(opt: torch.optim.Optimizer, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor):
    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        return loss

    return closure


def batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(16, 4, generator=g), torch.randint(0, 3, (16,), generator=g)


def flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_registry_lists_the_expected_entries_with_their_kind() -> None:
    opaque = {name for name, entry in REGISTRY.items() if entry.kind == "opaque"}
    assert opaque == EXPECTED_OPAQUE
    for name, entry in REGISTRY.items():
        assert entry.name == name and entry.summary and entry.invalid_kwargs
        if entry.kind == "genome":
            assert entry.optimizer_class is GenomeOptimizer and entry.genome is not None
        else:
            assert entry.genome is None
    with pytest.raises(KeyError, match="known:"):
        get_entry("no_such_optimizer")


@pytest.mark.parametrize("name", NAMES)
def test_builds_from_parameters_and_steps_a_small_model(name: str) -> None:
    torch.manual_seed(0)
    entry, model = REGISTRY[name], small_model()
    opt = entry.build(model.parameters(), total_steps=20)
    assert isinstance(opt, entry.optimizer_class)
    x, y = batch()
    before = flat(model)
    closure = make_closure(opt, model, x, y)
    for _ in range(5):
        loss = opt.step(closure)
        assert isinstance(loss, torch.Tensor) and math.isfinite(loss.item())
    after = flat(model)
    assert torch.isfinite(after).all() and not torch.equal(before, after)


@pytest.mark.parametrize("name", NAMES)
def test_builds_from_param_groups(name: str) -> None:
    torch.manual_seed(0)
    entry, model = REGISTRY[name], small_model()
    groups = [{"params": model[0].parameters()}, {"params": model[2].parameters(), "lr": 0.5}]
    opt = entry.build(groups, total_steps=20)
    assert [len(g["params"]) for g in opt.param_groups] == [2, 2]
    assert opt.param_groups[1]["lr"] == 0.5
    if "lr" in opt.defaults:  # the first group inherits the entry's documented lr
        documented = entry.genome.lr if entry.genome is not None else entry.kwargs["lr"]
        assert opt.param_groups[0]["lr"] == documented
    x, y = batch()
    before = [flat(model[0]), flat(model[2])]
    opt.step(make_closure(opt, model, x, y))
    assert not torch.equal(before[0], flat(model[0])) and not torch.equal(before[1], flat(model[2]))


@pytest.mark.parametrize("name", NAMES)
def test_lowers_a_convex_loss(name: str) -> None:
    """Least squares on a fixed design: 300 steps must lower the loss by more than 1%."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(64, 8, generator=g)
    y = x @ torch.full((8, 1), 2.0) + 1.0
    model = torch.nn.Linear(8, 1)
    opt = REGISTRY[name].build(model.parameters(), total_steps=300)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    initial = closure().item()
    for _ in range(300):
        opt.step(closure)
    final = closure().item()
    assert final < 0.99 * initial, f"{name}: {initial:.4g} -> {final:.4g}"


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trips(name: str) -> None:
    """A restored optimizer continues exactly like the original (same RNG for both)."""
    torch.manual_seed(0)
    entry, model = REGISTRY[name], small_model()
    opt = entry.build(model.parameters(), total_steps=20)
    x, y = batch()
    for _ in range(7):
        opt.step(make_closure(opt, model, x, y))
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)  # plain data only

    twin = copy.deepcopy(model)
    twin_opt = entry.build(twin.parameters(), total_steps=20)
    twin_opt.load_state_dict(saved)
    assert_same_state(opt.state_dict(), twin_opt.state_dict())
    x2, y2 = batch(seed=1)
    for trained, optimizer in ((model, opt), (twin, twin_opt)):
        torch.manual_seed(123)
        for _ in range(3):
            optimizer.step(make_closure(optimizer, trained, x2, y2))
    assert torch.equal(flat(model), flat(twin))


@pytest.mark.parametrize(
    ("name", "argument", "value"),
    [(name, arg, value) for name in NAMES for arg, value in REGISTRY[name].invalid_kwargs],
)
def test_rejects_invalid_hyperparameters_naming_the_argument(name: str, argument: str, value: object) -> None:
    entry = REGISTRY[name]
    kwargs = {**entry.kwargs, argument: value}
    with pytest.raises(ValueError) as excinfo:
        entry.optimizer_class(small_model().parameters(), **kwargs)
    message = str(excinfo.value).lower()
    words = ARGUMENT_WORDS.get(argument, (argument,))
    assert any(re.search(rf"\b{re.escape(w.lower())}(?![a-z_])", message) for w in words), message


def assert_same_state(a: object, b: object) -> None:
    """Recursive equality of state dicts (tensors compared exactly)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys()
        for key in a:
            assert_same_state(a[key], b[key])
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b)
        for left, right in zip(a, b, strict=True):
            assert_same_state(left, right)
    else:
        assert a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))
