"""ALME: seed API and defaults, Adam equivalence, the fixed escape, the Rastrigin escape."""

from __future__ import annotations

import inspect
import json
import math
import statistics

import pytest
import torch

from optimizers.opaque.alme import ALME, LANDSCAPE_SETTINGS


def rastrigin(x: torch.Tensor) -> torch.Tensor:
    """Sum over the last axis of x^2 - 10 cos(2 pi x) + 10; local minima near every integer point."""
    return (x**2 - 10.0 * torch.cos(2.0 * math.pi * x) + 10.0).sum(-1)


def state_bytes(opt: ALME) -> list[tuple[int, bytes, bytes]]:
    """Every parameter's step count and moments, as raw bytes."""
    out = []
    for group in opt.param_groups:
        for p in group["params"]:
            s = opt.state[p]
            out.append((s["step"], s["exp_avg"].numpy().tobytes(), s["exp_avg_sq"].numpy().tobytes()))
    return out


def per_escape(opt: ALME) -> int:
    """Closure/loader evaluations one escape spends: (refinement steps + 1 score) per candidate."""
    return opt.defaults["population_size"] * (opt.defaults["n_eval_steps"] + 1)


def classifier() -> torch.nn.Sequential:
    layers = (torch.nn.Linear(4, 16), torch.nn.Dropout(0.2), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    return torch.nn.Sequential(*layers)


def data(n: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, generator=g), torch.randint(0, 3, (n,), generator=g)


def test_constructor_keeps_the_seed_defaults() -> None:
    defaults = {k: v.default for k, v in inspect.signature(ALME).parameters.items() if k != "params"}
    seed_defaults = {
        "lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "grad_norm_window": 10,
        "grad_norm_threshold": 1e-6, "loss_window": 10, "loss_threshold": 1e-5, "stagnation_patience": 5,
        "use_loss_plateau": True, "population_size": 10, "n_eval_steps": 3, "eval_batch_size_factor": 1.0,
        "eval_on": "train", "track_best": True,
    }
    assert {k: defaults[k] for k in seed_defaults} == seed_defaults
    opt = ALME([torch.nn.Parameter(torch.zeros(2))])
    assert opt.defaults["scale_distribution"] == {0.5: 2, 1.0: 3, 2.0: 3, 4.0: 1, 8.0: 1}


def test_json_string_scale_keys_work() -> None:
    config = json.loads('{"scale_distribution": {"0.5": 4, "2": 6}, "population_size": 10}')
    w = torch.nn.Parameter(torch.ones(3))
    opt = ALME([w], **config)
    assert opt.defaults["scale_distribution"] == {0.5: 4, 2.0: 6}
    w.grad = torch.ones(3)
    opt.step()
    assert len(list(opt._candidates([w.detach().clone()]))) == 10


def test_without_escapes_it_is_adam() -> None:
    """eps = 0 makes the seed's eps placement irrelevant: ALME must then equal torch Adam."""
    torch.manual_seed(0)
    model = classifier().eval()
    twin = classifier().eval()
    twin.load_state_dict(model.state_dict())
    alme = ALME(model.parameters(), lr=1e-2, eps=0.0, stagnation_patience=10**9)
    adam = torch.optim.Adam(twin.parameters(), lr=1e-2, eps=0.0)
    x, y = data()
    for net, opt in ((model, alme), (twin, adam)):
        for _ in range(20):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_weight_decay_is_decoupled_and_applied_after_the_move() -> None:
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    opt = ALME([w], lr=0.1, weight_decay=0.5, eps=1e-8)
    g = torch.tensor([0.3, -4.0], dtype=torch.float64)
    w.grad = g.clone()
    opt.step()
    m, v = 0.1 * g, 0.001 * g**2
    step_size = 0.1 * math.sqrt(1 - 0.999) / (1 - 0.9)
    moved = torch.tensor([1.0, -2.0], dtype=torch.float64) - step_size * m / (v.sqrt() + 1e-8)
    torch.testing.assert_close(w.detach(), moved * (1 - 0.1 * 0.5))


def test_invalid_arguments_name_the_argument() -> None:
    w = [torch.nn.Parameter(torch.zeros(1))]
    for kwargs, name in (
        ({"population_size": 9}, "population_size"),
        ({"scale_distribution": {"0.5": -1, "1": 11}}, "scale_distribution"),
        ({"eval_batch_size_factor": 1.5}, "eval_batch_size_factor"),
        ({"perturbation_floor": -1.0}, "perturbation_floor"),
        ({"max_step_scale": 0.0}, "max_step_scale"),
    ):
        with pytest.raises(ValueError, match=name):
            ALME(w, **kwargs)


def test_zero_weights_get_perturbed_and_step_sizes_are_capped() -> None:
    w = torch.nn.Parameter(torch.zeros(100))
    opt = ALME([w], lr=1e-3, generator=torch.Generator().manual_seed(0))
    w.grad = torch.zeros(100)  # v = 0: the seed's scale would be lr / eps = 1e5
    opt.step()
    sizes = opt._step_sizes()[0]
    assert torch.all(sizes == opt.defaults["max_step_scale"])
    candidates = [c[0] for c in opt._candidates([w.detach().clone()])]
    assert len(candidates) == opt.defaults["population_size"]
    assert all(torch.count_nonzero(c) == 100 for c in candidates)
    largest = max(float(c.abs().max()) for c in candidates)
    assert largest < 6 * 8 * opt.defaults["perturbation_floor"]  # 6 sigma, scale 8


def test_stagnation_is_measured_on_smoothed_losses() -> None:
    """A noisy plateau triggers an escape check; a noisy but steadily falling loss does not."""
    g = torch.Generator().manual_seed(0)
    noise = (0.2 * torch.randn(400, generator=g)).tolist()
    plateau = ALME([torch.nn.Parameter(torch.zeros(1))])
    fired = []
    for i, n in enumerate(noise):
        plateau.update_loss(1.0 + n)
        if plateau._detect_stagnation():
            fired.append(i)
            plateau.global_state["stagnation_count"] = 0
    assert fired, "a flat (noisy) loss must be detected as stagnant"
    falling = ALME([torch.nn.Parameter(torch.zeros(1))], loss_window=50)
    count = 0
    for i, n in enumerate(noise):
        falling.update_loss(math.exp(-0.02 * i) * (1.0 + 0.05 * n))
        count += falling._detect_stagnation()
    assert count == 0, "a steadily improving loss must never count as stagnant"


def test_candidate_evaluation_leaves_adam_moments_byte_identical() -> None:
    torch.manual_seed(0)
    model = classifier()
    opt = ALME(model.parameters(), lr=1e-2, generator=torch.Generator().manual_seed(1))
    x, y = data()

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        return loss

    for _ in range(5):
        opt.step(closure)
    before, weights = state_bytes(opt), [p.detach().clone() for p in model.parameters()]
    opt._escape_local_minimum(opt._closure_scorer(closure))
    assert state_bytes(opt) == before
    stats = opt.get_stats()
    assert stats["escape_count"] == 1 and stats["escape_steps"] == [5]
    assert stats["candidate_evaluations"] == per_escape(opt)
    pairs = zip(model.parameters(), weights, strict=True)
    moved = math.sqrt(sum(float((p.detach() - w).pow(2).sum()) for p, w in pairs))
    assert moved > 0 and stats["escape_distances"] == [pytest.approx(moved, rel=1e-5)]


def test_weights_stay_when_every_candidate_diverges() -> None:
    w = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
    opt = ALME([w])

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = (w * float("nan")).sum()
        loss.backward()
        return loss

    assert not opt._escape_local_minimum(opt._closure_scorer(closure))
    assert torch.equal(w.detach(), torch.tensor([1.0, -1.0])) and opt.get_stats()["escape_count"] == 0


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_loader_escape_keeps_moments_and_restores_the_model_mode(mode: str) -> None:
    torch.manual_seed(0)
    model = classifier()
    x, y = data(96)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32, shuffle=True)
    val = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*data(40, seed=1)), batch_size=16)
    opt = ALME(model.parameters(), lr=1e-2, eval_on="val", eval_batch_size_factor=0.5, stagnation_patience=2)
    criterion = torch.nn.CrossEntropyLoss()
    for xb, yb in loader:
        opt.zero_grad()
        criterion(model(xb), yb).backward()
        opt.step()
    model.train(mode == "train")
    before = state_bytes(opt)
    for _ in range(opt.defaults["loss_window"]):
        opt.update_loss(0.7)
    escaped = [opt.check_and_escape(model, loader, val, criterion) for _ in range(3)]
    assert escaped == [False, True, False]  # patience 2; the counter and histories reset after it
    assert state_bytes(opt) == before
    assert model.training == (mode == "train")
    assert opt.get_stats()["candidate_evaluations"] == per_escape(opt)
    for _ in range(opt.defaults["loss_window"]):
        opt.update_loss(0.7)
    assert not opt.check_and_escape(model, loader)
    with pytest.raises(ValueError, match="criterion"):
        opt.check_and_escape(model, loader)  # stagnant now, and nothing to score candidates with


def test_best_params_are_tracked_and_restored() -> None:
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    opt = ALME([w])
    assert opt.get_best_params() is None and not opt.load_best_params()
    assert opt.update_best_params(torch.tensor(0.5))
    assert not opt.update_best_params(0.6)
    with torch.no_grad():
        w.add_(5.0)
    assert opt.load_best_params()
    assert torch.equal(w.detach(), torch.tensor([1.0, 2.0]))
    assert opt.get_stats()["best_val_loss"] == 0.5


def run_rastrigin(opt_factory, x0: torch.Tensor, steps: int) -> tuple[float, torch.optim.Optimizer]:
    x = torch.nn.Parameter(x0.clone())
    opt = opt_factory([x])

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = rastrigin(x).sum()
        loss.backward()
        return loss

    for _ in range(steps):
        opt.step(closure)
    return float(rastrigin(x.detach()).sum()), opt


def test_escape_beats_adam_stalled_in_a_rastrigin_local_minimum() -> None:
    """Rastrigin-10D started at an integer point (a local minimum): Adam stays, ALME escapes lower.

    Same optimizer-step budget (500) and lr (1e-2) for both, 10 seeds, medians compared.
    """
    steps, adam_final, alme_final, starts = 500, [], [], []
    for seed in range(10):
        x0 = torch.randint(-3, 4, (10,), generator=torch.Generator().manual_seed(seed)).float()
        starts.append(float(rastrigin(x0)))
        adam_loss, _ = run_rastrigin(lambda p: torch.optim.Adam(p, lr=1e-2), x0, steps)
        generator = torch.Generator().manual_seed(seed)
        alme_loss, alme = run_rastrigin(
            lambda p, g=generator: ALME(p, lr=1e-2, generator=g, **LANDSCAPE_SETTINGS), x0, steps
        )
        assert alme.get_stats()["escape_count"] >= 1
        adam_final.append(adam_loss)
        alme_final.append(alme_loss)
    # Adam stalls: it ends within 1% of its starting local minimum on every seed.
    assert all(abs(a - s) <= 0.01 * s for a, s in zip(adam_final, starts, strict=True))
    assert statistics.median(alme_final) < statistics.median(adam_final)


def test_hyperparameters_are_per_group_and_survive_state_dict() -> None:
    """Like torch.optim: every hyperparameter sits in the param groups and is saved with them."""
    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2))
    opt = ALME([{"params": [a]}, {"params": [b], "perturbation_floor": 0.5}], loss_window=12)
    assert [g["perturbation_floor"] for g in opt.param_groups] == [1e-3, 0.5]
    opt.param_groups[0]["stagnation_patience"] = 9
    opt.param_groups[1]["max_step_scale"] = 1e-4
    a.grad, b.grad = torch.ones(3), torch.ones(2)
    opt.step()
    saved = opt.state_dict()
    fresh = ALME([{"params": [a]}, {"params": [b]}])
    fresh.load_state_dict(saved)
    assert fresh.param_groups[0]["stagnation_patience"] == 9
    assert fresh.param_groups[0]["loss_window"] == 12
    assert [g["perturbation_floor"] for g in fresh.param_groups] == [1e-3, 0.5]
    assert [g["max_step_scale"] for g in fresh.param_groups] == [1.0, 1e-4]
    assert fresh.param_groups[1]["scale_distribution"] == {0.5: 2, 1.0: 3, 2.0: 3, 4.0: 1, 8.0: 1}
    assert fresh.global_state["step"] == 1
    sizes = fresh._step_sizes()  # the escape reads each group's own cap
    assert torch.all(sizes[0] > 1e-3) and torch.all(sizes[1] == 1e-4)
