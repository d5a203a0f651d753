"""Azure Sky: simulated-annealing exploration blended into Adam by a sigmoid (DarkStarStrix/Azure_Sky).

With ``k`` the number of completed ``step()`` calls (shared by all parameters and groups) and
``S`` a group's ``sa_steps``:

.. math::

    T_k &= T_0 / (1 + 0.05 k), \\qquad
        \\alpha_k = \\mathrm{sigmoid}\\big((k - S/2) / (S/10)\\big) \\\\
    g &\\leftarrow \\mathrm{clip}(g) \\quad \\text{(global norm per group, in place)} \\\\
    m &\\leftarrow \\beta_1 m + (1-\\beta_1) g, \\quad v \\leftarrow \\beta_2 v + (1-\\beta_2) g^2,
        \\quad a = -\\eta \\frac{m / (1-\\beta_1^t)}{\\sqrt{v / (1-\\beta_2^t)} + \\epsilon} \\\\
    n_k &= \\mu n_{k-1} + \\sqrt{1-\\mu^2}\\, \\xi_k, \\quad n_0 = \\xi_0, \\quad \\xi_k \\sim N(0, I) \\\\
    p &\\leftarrow p + \\alpha_k a + (1 - \\alpha_k) \\, \\sigma T_k n_k \\,[\\text{SA active}]

SA is active until ``k`` reaches the first group's ``sa_steps``, then switched off for good;
the later steps are Adam scaled by ``alpha_k`` (which tends to 1). With the seed README's
defaults (``sa_steps`` 5) the first five steps are large random kicks (noise std about
0.39, 0.35, 0.26, 0.09, 0.02 per weight) and the rest is Adam.

``sa_momentum`` (``mu``) is accepted but unused upstream. Here it is the momentum of the
exploration noise: ``n_k`` is an AR(1) process, variance-preserving, so every ``n_k`` is
still standard normal (the per-step noise has the seed's distribution) but consecutive kicks
are correlated (``corr = mu^lag``), so exploration drifts instead of jittering. ``mu = 0``
gives the seed's white noise exactly.

``acceptance="metropolis"`` (beyond the seed, needs ``step(closure)``): during the SA phase
the proposed move is kept with probability ``min(1, exp(-(L_new - L_old) / T_k))`` (the same
``T_k``, read in loss units), otherwise the weights are restored; the moments keep the update.

Loss-spike monitor (the seed's): every closure loss is appended to a window of the last
``spike_window`` (5) losses; from the 6th loss on, a loss above ``spike_factor`` (10) times the
mean of the 4 before it (mean > 0) logs a warning through :mod:`logging` (no print) and
increments ``spike_count``.
The seed's hooks module (per-module clipping and spike hooks) is not reproduced: its clipping
hook was a no-op and its spike hook read layer outputs as losses.

Every hyperparameter but ``generator`` lives in ``defaults`` and the param groups (as in
torch.optim), so it is saved by ``state_dict``; ``acceptance`` and the spike monitor's, which
watch the one closure loss, are read from the first group.

State: ``self.state["global"]`` holds step_count, sa_active, loss_history, spike_count,
spike_steps, accepted, rejected (all saved in ``state_dict``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from typing import Any

import torch

from optimizers._common import as_float, check, is_int, standard_normal

logger = logging.getLogger(__name__)

ACCEPTANCE_RULES = ("none", "metropolis")
TEMPERATURE_DECAY = 0.05
"""The seed's hard-coded temperature decay: ``T_k = T0 / (1 + 0.05 k)``."""


def temperature(T0: float, k: int) -> float:
    """Annealing temperature after ``k`` completed steps."""
    return T0 / (1.0 + TEMPERATURE_DECAY * k)


def blend_weight(k: int, sa_steps: int) -> float:
    """Adam's share ``alpha_k = sigmoid((k - S/2) / (S/10))``, exponent clamped to [-100, 100]."""
    z = (k - sa_steps / 2.0) / (sa_steps / 10.0)
    return 1.0 / (1.0 + math.exp(-max(-100.0, min(100.0, z))))


class Azure(torch.optim.Optimizer):
    """Azure Sky: SA exploration then Adam, with per-group clipping and a loss-spike monitor.

    Args:
        params: parameters, (name, parameter) pairs, or param-group dicts (per-group lr, ...).
        lr: Adam learning rate (seed README: 0.0007518383921113902).
        T0: initial temperature (2.2723218904585964).
        sigma: exploration noise scale (0.17181058166567398).
        betas, eps: Adam moment coefficients and denominator term.
        sa_steps: length ``S`` of the SA phase; also sets the blend's centre S/2 and width S/10.
        sa_momentum: AR(1) momentum of the exploration noise (0.6612913488540948; 0 = white).
        clip_grad_norm: max gradient norm per group, None to skip clipping.
        acceptance: "none" (seed) or "metropolis" (annealing acceptance test, needs a closure).
        spike_window, spike_factor: the loss-spike monitor's window and ratio.
        generator: optional ``torch.Generator`` for the noise and the acceptance test.

    Raises:
        ValueError: an argument outside its range; the message names it.

    Example:
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> w = torch.nn.Parameter(torch.tensor([2.0, -1.0]))
        >>> opt = Azure([w], lr=0.05)
        >>> for _ in range(300):
        ...     opt.zero_grad()
        ...     (w**2).sum().backward()
        ...     _ = opt.step()
        >>> bool(w.abs().max() < 0.1)
        True
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.0007518383921113902,
        T0: float = 2.2723218904585964,
        sigma: float = 0.17181058166567398,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        sa_steps: int = 5,
        sa_momentum: float = 0.6612913488540948,
        clip_grad_norm: float | None = 1.0,
        acceptance: str = "none",
        spike_window: int = 5,
        spike_factor: float = 10.0,
        generator: torch.Generator | None = None,
    ) -> None:
        check(lr >= 0.0, "lr", lr, "must be >= 0")
        check(T0 >= 0.0, "T0", T0, "must be >= 0")
        check(sigma >= 0.0, "sigma", sigma, "must be >= 0")
        check(len(betas) == 2 and all(0.0 <= b < 1.0 for b in betas), "betas", betas, "each in [0, 1)")
        check(eps >= 0.0, "eps", eps, "must be >= 0")
        check(is_int(sa_steps) and sa_steps >= 1, "sa_steps", sa_steps, "must be an integer >= 1")
        check(0.0 <= sa_momentum < 1.0, "sa_momentum", sa_momentum, "must lie in [0, 1)")
        check(clip_grad_norm is None or clip_grad_norm > 0.0, "clip_grad_norm", clip_grad_norm,
               "must be > 0, or None to disable clipping")
        check(acceptance in ACCEPTANCE_RULES, "acceptance", acceptance, f"must be one of {ACCEPTANCE_RULES}")
        check(is_int(spike_window) and spike_window >= 2, "spike_window", spike_window,
               "must be an integer >= 2")
        check(spike_factor > 0.0, "spike_factor", spike_factor, "must be > 0")
        defaults = {
            "lr": lr, "T0": T0, "sigma": sigma, "betas": tuple(betas), "eps": eps, "sa_steps": sa_steps,
            "sa_momentum": sa_momentum, "clip_grad_norm": clip_grad_norm, "acceptance": acceptance,
            "spike_window": spike_window, "spike_factor": spike_factor,
        }
        super().__init__(params, defaults)
        self.generator = generator
        self.state["global"] = {
            "step_count": 0, "sa_active": True, "loss_history": [], "spike_count": 0, "spike_steps": [],
            "accepted": 0, "rejected": 0,
        }

    @property
    def global_state(self) -> dict[str, Any]:
        return self.state["global"]

    def _compute_temperature(self, group: dict[str, Any]) -> float:
        return temperature(group["T0"], self.global_state["step_count"])

    def _compute_alpha(self, group: dict[str, Any]) -> float:
        return blend_weight(self.global_state["step_count"], group["sa_steps"])

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One blended update; the closure's loss feeds the spike monitor (and Metropolis)."""
        g = self.global_state
        metropolis = self.param_groups[0]["acceptance"] == "metropolis" and g["sa_active"]
        if metropolis and closure is None:
            raise ValueError("Invalid acceptance: 'metropolis' needs step(closure) to score the move")
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
            if loss is not None:
                self._monitor_loss(as_float(loss))
        before = [p.detach().clone() for p in self._all_params()] if metropolis else []
        for group in self.param_groups:
            self._update_group(group, g["sa_active"])
        if metropolis:
            self._metropolis_test(closure, as_float(loss), before)
        g["step_count"] += 1
        if g["sa_active"] and g["step_count"] >= self.param_groups[0]["sa_steps"]:
            g["sa_active"] = False
        return loss

    def _update_group(self, group: dict[str, Any], sa_active: bool) -> None:
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            return
        if group["clip_grad_norm"] is not None:
            torch.nn.utils.clip_grad_norm_(params, group["clip_grad_norm"])
        alpha = self._compute_alpha(group)
        noise_std = group["sigma"] * self._compute_temperature(group)
        beta1, beta2 = group["betas"]
        mu = group["sa_momentum"]
        for p in params:
            if p.grad.is_sparse:
                raise RuntimeError("Azure does not support sparse gradients")
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["step"] += 1
            t = state["step"]
            state["exp_avg"].mul_(beta1).add_(p.grad, alpha=1.0 - beta1)
            state["exp_avg_sq"].mul_(beta2).addcmul_(p.grad, p.grad, value=1.0 - beta2)
            denom = (state["exp_avg_sq"] / (1.0 - beta2**t)).sqrt_().add_(group["eps"])
            p.addcdiv_(state["exp_avg"], denom, value=-alpha * group["lr"] / (1.0 - beta1**t))
            if sa_active:
                xi = standard_normal(p, self.generator)
                if "sa_noise" in state:
                    state["sa_noise"].mul_(mu).add_(xi, alpha=math.sqrt(1.0 - mu * mu))
                else:
                    state["sa_noise"] = xi
                p.add_(state["sa_noise"], alpha=(1.0 - alpha) * noise_std)
            else:
                state.pop("sa_noise", None)

    def _all_params(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def _metropolis_test(
        self, closure: Callable[[], Any], old_loss: float, before: list[torch.Tensor]
    ) -> None:
        """Keep the move with probability min(1, exp(-(new - old) / T_k)), else restore."""
        with torch.enable_grad():
            new_loss = as_float(closure())
        temp = self._compute_temperature(self.param_groups[0])
        delta = new_loss - old_loss
        if delta <= 0.0:
            accept = True
        elif temp <= 0.0 or not math.isfinite(new_loss):
            accept = False
        else:
            u = float(torch.rand((), generator=self.generator)) if self.generator else float(torch.rand(()))
            accept = u < math.exp(-delta / temp)
        g = self.global_state
        if accept:
            g["accepted"] += 1
            return
        g["rejected"] += 1
        for p, b in zip(self._all_params(), before, strict=True):
            p.copy_(b)

    def _monitor_loss(self, loss: float) -> None:
        """The seed's spike monitor: warn when a loss exceeds 10x the mean of the previous four."""
        g, first = self.global_state, self.param_groups[0]
        window, factor = first["spike_window"], first["spike_factor"]
        history = g["loss_history"]
        history.append(loss)
        if len(history) <= window:
            return
        del history[: len(history) - window]
        previous = history[:-1]
        mean = sum(previous) / len(previous)
        if mean > 0.0 and loss > factor * mean:
            g["spike_count"] += 1
            g["spike_steps"].append(g["step_count"])
            logger.warning(
                "Azure: loss spike at step %d: %.4g > %g x mean %.4g of the previous %d losses",
                g["step_count"], loss, factor, mean, len(previous),
            )
