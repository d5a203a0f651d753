"""Azure Sky: seed defaults, exploration then blended Adam, per-group clipping, spike monitor."""

from __future__ import annotations

import inspect
import logging

import pytest
import torch

from optimizers.opaque.azure import Azure, blend_weight, temperature

SEED_DEFAULTS = {
    "lr": 0.0007518383921113902, "T0": 2.2723218904585964, "sigma": 0.17181058166567398, "sa_steps": 5,
    "sa_momentum": 0.6612913488540948, "clip_grad_norm": 1.0, "betas": (0.9, 0.999), "eps": 1e-8,
}


def test_defaults_are_the_seed_readme_values() -> None:
    signature = inspect.signature(Azure).parameters
    assert {k: signature[k].default for k in SEED_DEFAULTS} == SEED_DEFAULTS
    assert signature["acceptance"].default == "none"


def test_blend_and_temperature_follow_the_seed_schedule() -> None:
    alphas = [blend_weight(k, 5) for k in range(6)]
    assert alphas == pytest.approx([0.0067, 0.0474, 0.2689, 0.7311, 0.9526, 0.9933], abs=1e-4)
    assert blend_weight(500, 1000) == pytest.approx(0.5)
    assert blend_weight(10**6, 5) == 1.0 and blend_weight(0, 1) > 0.0  # exponent clamped, no overflow
    assert temperature(2.0, 0) == 2.0 and temperature(2.0, 20) == pytest.approx(1.0)


def fixed_gradient_run(sa_momentum: float, steps: int = 12, n: int = 4096):
    """Azure (seed defaults) and torch Adam fed the same gradients; per-step moves of both."""
    g = torch.Generator().manual_seed(0)
    grads = [1e-3 * torch.randn(n, generator=g, dtype=torch.float64) for _ in range(steps)]  # norm < clip
    p = torch.nn.Parameter(torch.zeros(n, dtype=torch.float64))
    ref = torch.nn.Parameter(torch.zeros(n, dtype=torch.float64))
    azure = Azure([p], sa_momentum=sa_momentum, generator=torch.Generator().manual_seed(1))
    adam = torch.optim.Adam([ref], lr=SEED_DEFAULTS["lr"], betas=(0.9, 0.999), eps=1e-8)
    moves = []
    for grad in grads:
        p.grad, ref.grad = grad.clone(), grad.clone()
        p0, r0 = p.detach().clone(), ref.detach().clone()
        azure.step()
        adam.step()
        moves.append((p.detach() - p0, ref.detach() - r0))
    return azure, moves


def test_first_five_steps_explore_then_adam_scaled_by_the_blend() -> None:
    azure, moves = fixed_gradient_run(SEED_DEFAULTS["sa_momentum"])
    noise = []
    for k, (move, adam_move) in enumerate(moves):
        alpha = blend_weight(k, 5)
        residual = move - alpha * adam_move
        if k < 5:
            expected_std = SEED_DEFAULTS["sigma"] * temperature(SEED_DEFAULTS["T0"], k) * (1 - alpha)
            assert residual.std().item() == pytest.approx(expected_std, rel=0.05)
            assert residual.norm() > 10 * (alpha * adam_move).norm(), f"step {k} is not exploration-dominated"
            noise.append(residual / expected_std)
        else:
            torch.testing.assert_close(move, alpha * adam_move, rtol=1e-9, atol=1e-15)
    assert azure.global_state["sa_active"] is False and azure.global_state["step_count"] == 12
    # sa_momentum: consecutive kicks are correlated by mu (AR(1)), each still standard normal
    correlation = torch.corrcoef(torch.stack([noise[0], noise[1]]))[0, 1].item()
    assert correlation == pytest.approx(SEED_DEFAULTS["sa_momentum"], abs=0.05)


def test_zero_sa_momentum_gives_white_noise() -> None:
    _, moves = fixed_gradient_run(0.0, steps=2)
    kicks = [move - blend_weight(k, 5) * adam_move for k, (move, adam_move) in enumerate(moves)]
    assert abs(torch.corrcoef(torch.stack(kicks))[0, 1].item()) < 0.05


def test_clipping_bounds_each_group_gradient_norm_separately() -> None:
    a, b, c = (torch.nn.Parameter(torch.zeros(n)) for n in (3, 2, 4))
    opt = Azure([{"params": [a, b]}, {"params": [c], "lr": 1e-2}], sigma=0.0)
    a.grad, b.grad, c.grad = torch.full((3,), 30.0), torch.full((2,), -40.0), torch.full((4,), 0.1)
    opt.step()
    group_norm = torch.cat([a.grad, b.grad]).norm().item()
    assert group_norm == pytest.approx(1.0, rel=1e-5)
    assert a.grad[0].item() / b.grad[0].item() == pytest.approx(30.0 / -40.0)  # direction kept
    assert torch.equal(c.grad, torch.full((4,), 0.1))  # the other group (norm 0.2) is untouched
    torch.testing.assert_close(opt.state[a]["exp_avg"], 0.1 * a.grad)  # Adam saw the clipped gradient


def constant_closure(opt: Azure, w: torch.nn.Parameter, losses: list[float]):
    values = iter(losses)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        w.grad = torch.zeros_like(w)
        return torch.tensor(next(values))

    return closure


def test_spike_monitor_fires_on_a_planted_spike_only(caplog, capsys) -> None:
    smooth = [1.0 / (1 + 0.1 * i) for i in range(12)]
    spiked = [*smooth[:8], 20.0, *smooth[9:]]
    counts = []
    for losses in (smooth, spiked):
        w = torch.nn.Parameter(torch.zeros(2))
        opt = Azure([w])
        closure = constant_closure(opt, w, losses)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="optimizers.opaque.azure"):
            for _ in losses:
                opt.step(closure)
        state = opt.global_state
        counts.append((state["spike_count"], list(state["spike_steps"]), len(caplog.records)))
    assert counts == [(0, [], 0), (1, [8], 1)]
    assert "loss spike" in caplog.records[0].getMessage()
    assert capsys.readouterr().out == ""  # a log record, not a print


def test_accepts_named_parameters_and_per_group_lr() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 1))
    opt = Azure(list(model.named_parameters()))
    assert opt.param_groups[0]["param_names"] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    a, b = torch.nn.Parameter(torch.zeros(5)), torch.nn.Parameter(torch.zeros(5))
    opt = Azure([{"params": [a], "lr": 1e-2}, {"params": [b]}], sigma=0.0, lr=1e-3)
    for _ in range(20):
        a.grad, b.grad = torch.full((5,), 0.1), torch.full((5,), 0.1)
        a0, b0 = a.detach().clone(), b.detach().clone()
        opt.step()
    torch.testing.assert_close(a.detach() - a0, 10 * (b.detach() - b0))


def test_metropolis_rejects_uphill_moves_when_cold_and_accepts_them_when_hot() -> None:
    for T0, sigma, expect_moved in ((1e-6, 1e6, False), (1e6, 1e-6, True)):  # noise std sigma*T0 ~ 1 both
        w = torch.nn.Parameter(torch.zeros(8))  # the global minimum of sum(w^2): every kick goes uphill
        opt = Azure([w], lr=0.0, T0=T0, sigma=sigma, acceptance="metropolis",
                    generator=torch.Generator().manual_seed(0))

        def closure(opt=opt, w=w) -> torch.Tensor:
            opt.zero_grad()
            loss = (w**2).sum()
            loss.backward()
            return loss

        for _ in range(5):
            opt.step(closure)
        state = opt.global_state
        assert (state["accepted"], state["rejected"]) == ((5, 0) if expect_moved else (0, 5))
        assert bool(w.detach().abs().sum() > 0) == expect_moved
    with pytest.raises(ValueError, match="acceptance"):
        Azure([w], acceptance="metropolis").step()


def test_hyperparameters_are_per_group_and_survive_state_dict() -> None:
    """Like torch.optim: every hyperparameter (acceptance, spike monitor too) is in the groups."""
    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2))
    opt = Azure([{"params": [a]}, {"params": [b], "sigma": 0.5}], spike_factor=4.0)
    opt.param_groups[0]["spike_window"] = 7
    opt.param_groups[1]["T0"] = 3.0
    a.grad, b.grad = torch.ones(3), torch.ones(2)
    opt.step()
    fresh = Azure([{"params": [a]}, {"params": [b]}])
    fresh.load_state_dict(opt.state_dict())
    assert [g["sigma"] for g in fresh.param_groups] == [opt.defaults["sigma"], 0.5]
    assert [g["T0"] for g in fresh.param_groups] == [opt.defaults["T0"], 3.0]
    assert fresh.param_groups[0]["spike_window"] == 7 and fresh.param_groups[0]["spike_factor"] == 4.0
    assert fresh.param_groups[0]["acceptance"] == "none" and fresh.global_state["step_count"] == 1
    for loss in [1.0] * 7 + [3.0]:  # 3 < 4 x 1: no spike
        fresh._monitor_loss(loss)
    # 6 > 4 x 1.33, the mean of the previous 6 (window 7); not with factor 10, nor window 5 (4 x 1.5)
    fresh._monitor_loss(6.0)
    assert fresh.global_state["spike_count"] == 1
