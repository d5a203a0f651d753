"""ALME's escape machinery: the plateau test, candidate sampling and candidate scoring.

Kept apart from :mod:`optimizers.opaque.alme` (the optimizer class) so each file has one job. The
functions take values (parameters, their groups and states, settings) and return results;
they never touch the optimizer object. The scorers refine a candidate with Adam steps on
*private copies* of the moments (the real optimizer state is read, never written), return
its loss and count the loss evaluations they spent (``evaluations``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from optimizers._common import as_float, standard_normal

Slot = tuple[torch.Tensor, Mapping[str, Any], Mapping[str, Any]]
"""One parameter with its param group and its optimizer state (read, never written)."""

_TINY = 1e-12


def adam_update(
    param: torch.Tensor, grad: torch.Tensor, exp_avg: torch.Tensor, exp_avg_sq: torch.Tensor,
    t: int, group: Mapping[str, Any],
) -> None:
    """The seed's Adam step with decoupled decay after the move, in place (see module doc)."""
    beta1, beta2 = group["betas"]
    exp_avg.mul_(beta1).add_(grad, alpha=1.0 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
    step_size = group["lr"] * math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
    param.addcdiv_(exp_avg, exp_avg_sq.sqrt().add_(group["eps"]), value=-step_size)
    if group["weight_decay"] != 0.0:
        param.mul_(1.0 - group["lr"] * group["weight_decay"])


def half_window_plateau(history: list[float], window: int, threshold: float, signed: bool) -> bool | None:
    """Plateau test on the last ``window`` values (None while fewer are recorded).

    With ``a`` the mean of the older half and ``b`` the mean of the newer half,
    ``change = a - b`` (improvement, ``signed``) or ``|a - b|`` (any change); the series is on a
    plateau when ``change < threshold * max(|a|, 1e-12)``. Half-window means smooth out
    per-batch noise; the relative threshold makes one default work for any loss scale.
    """
    if len(history) < window:
        return None
    recent = history[-window:]
    half = window // 2
    older = sum(recent[:half]) / half
    newer = sum(recent[half:]) / (window - half)
    change = older - newer if signed else abs(older - newer)
    return change < threshold * max(abs(older), _TINY)


def effective_step_size(
    param: torch.Tensor, state: Mapping[str, Any], group: Mapping[str, Any]
) -> torch.Tensor:
    """Adam's per-weight step size ``lr sqrt(1-b2^t)/(1-b1^t)/(sqrt(v)+eps)``, capped.

    A weight without Adam state (no gradient yet) gets the plain ``lr``, as in the seed. The
    cap, the group's ``max_step_scale``, stops the size from reaching lr/eps where ``v -> 0``.
    """
    t = state.get("step", 0)
    if t > 0:
        beta1, beta2 = group["betas"]
        bias = math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
        size = (group["lr"] * bias) / (state["exp_avg_sq"].sqrt() + group["eps"])
    else:
        size = torch.full_like(param, group["lr"])
    return size.clamp(max=group["max_step_scale"])


def sample_candidates(
    origin: list[torch.Tensor],
    step_sizes: list[torch.Tensor],
    floors: list[float],
    scale_distribution: Mapping[float, int],
    generator: torch.Generator | None,
) -> Iterator[list[torch.Tensor]]:
    """Yield perturbed copies of ``origin`` (one list of tensors each), ``count`` per scale.

    Candidate = ``w + xi * max(|w|, floor) * s * scale`` with ``xi ~ N(0, I)``, ``s`` the
    weight's :func:`effective_step_size` and ``floor`` its group's ``perturbation_floor``.
    """
    bases = [w.abs().clamp(min=f) * s for w, s, f in zip(origin, step_sizes, floors, strict=True)]
    for scale, count in scale_distribution.items():
        for _ in range(count):
            noise = [standard_normal(w, generator) for w in origin]
            yield [w + xi * base * scale for w, xi, base in zip(origin, noise, bases, strict=True)]


class CandidateScorer(Protocol):
    evaluations: int
    """Closure or loader evaluations spent so far."""

    def refine_and_score(self) -> float:
        """Refine the weights currently loaded in the optimizer's params; return their loss."""
        ...


@dataclass
class _Moments:
    """One parameter's scratch Adam state."""

    param: torch.Tensor
    group: Mapping[str, Any]
    exp_avg: torch.Tensor
    exp_avg_sq: torch.Tensor
    step: int


class _ScratchAdam:
    """Adam on private copies of the optimizer's moments and step counts (real state untouched)."""

    def __init__(self, slots: list[Slot]) -> None:
        self.moments: list[_Moments] = []
        for p, group, s in slots:
            if "exp_avg" in s:
                m, v, t = s["exp_avg"].clone(), s["exp_avg_sq"].clone(), s["step"]
            else:
                m, v, t = torch.zeros_like(p), torch.zeros_like(p), 0
            self.moments.append(_Moments(p, group, m, v, t))

    @torch.no_grad()
    def step(self) -> None:
        for s in self.moments:
            if s.param.grad is None:
                continue
            s.step += 1
            adam_update(s.param, s.param.grad, s.exp_avg, s.exp_avg_sq, s.step, s.group)

    def clear_grads(self) -> None:
        for s in self.moments:
            s.param.grad = None


class ClosureScorer:
    """Refine with ``n_eval_steps`` closure steps, score with one more closure call."""

    def __init__(self, slots: list[Slot], closure: Callable[[], Any], n_eval_steps: int) -> None:
        self.slots, self.closure, self.n_eval_steps = slots, closure, n_eval_steps
        self.evaluations = 0

    def _loss(self, adam: _ScratchAdam) -> float:
        adam.clear_grads()
        with torch.enable_grad():
            loss = self.closure()
        self.evaluations += 1
        return as_float(loss)

    def refine_and_score(self) -> float:
        adam = _ScratchAdam(self.slots)
        for _ in range(self.n_eval_steps):
            self._loss(adam)
            adam.step()
        return self._loss(adam)


class BatchScorer:
    """The seed's loader-based scoring: refine on training batches, score on a whole loader.

    The ``n_eval_steps`` refinement batches are drawn once (shared by all candidates) and cut
    to ``eval_batch_size_factor`` of their rows; scoring runs in eval mode with no gradients
    and averages the criterion over samples; the model's train/eval mode is restored.
    """

    def __init__(
        self, slots: list[Slot], model: torch.nn.Module, train_loader: Iterable[Any],
        score_loader: Iterable[Any], criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        device: str | torch.device, n_eval_steps: int, eval_batch_size_factor: float,
    ) -> None:
        self.slots, self.model, self.score_loader = slots, model, score_loader
        self.criterion, self.device = criterion, device
        self.evaluations = 0
        self.batches = self._draw_batches(train_loader, n_eval_steps, eval_batch_size_factor)

    def _draw_batches(self, loader: Iterable[Any], n: int, factor: float) -> list[tuple[Any, Any]]:
        batches: list[tuple[Any, Any]] = []
        iterator = iter(loader)
        while len(batches) < n:
            try:
                inputs, targets = next(iterator)
            except StopIteration:
                if not batches and n > 0:
                    raise ValueError("Invalid train_loader: it yields no batches") from None
                iterator = iter(loader)
                continue
            keep = max(1, math.ceil(factor * len(inputs)))
            batches.append((inputs[:keep].to(self.device), targets[:keep].to(self.device)))
        return batches

    def refine_and_score(self) -> float:
        was_training = self.model.training
        adam = _ScratchAdam(self.slots)
        try:
            for inputs, targets in self.batches:
                adam.clear_grads()
                with torch.enable_grad():
                    self.criterion(self.model(inputs), targets).backward()
                adam.step()
                self.evaluations += 1
            adam.clear_grads()
            self.model.eval()
            total, count = 0.0, 0
            with torch.no_grad():
                for inputs, targets in self.score_loader:
                    inputs, targets = inputs.to(self.device), targets.to(self.device)
                    total += float(self.criterion(self.model(inputs), targets)) * len(inputs)
                    count += len(inputs)
            self.evaluations += 1
        finally:
            self.model.train(was_training)
        if count == 0:
            raise ValueError("Invalid score loader: it yields no batches")
        return total / count
