"""ALME: Adaptive Local Minima Escape (Styx, branch ``alme_impl``): Adam plus a population escape.

Normal steps are Adam with decoupled weight decay, as the seed writes it (per parameter,
step ``t``, eps outside the bias correction, decay applied after the Adam move):

.. math::

    m &\\leftarrow \\beta_1 m + (1-\\beta_1) g, \\quad v \\leftarrow \\beta_2 v + (1-\\beta_2) g^2 \\\\
    s &= \\eta \\sqrt{1-\\beta_2^t} / (1-\\beta_1^t) / (\\sqrt v + \\epsilon)
        \\qquad \\text{(Adam's effective per-weight step size)} \\\\
    p &\\leftarrow p - s \\, m, \\qquad p \\leftarrow p - \\eta \\lambda p

Stagnation: every check compares the mean of the older and the newer half of the last
``loss_window`` recorded losses; when the relative improvement is below ``loss_threshold``
the check is stagnant, otherwise the counter resets. ``stagnation_patience`` stagnant checks
in a row trigger an escape: ``population_size`` candidates
``w + N(0, I) * max(|w|, perturbation_floor) * min(s, max_step_scale) * scale`` (the scales
and their counts from ``scale_distribution``), each refined by ``n_eval_steps`` Adam steps on
private copies of the moments and scored; the best candidate (after refinement) replaces the
weights even when it scores worse than the current point (the seed's escape semantics).

Two ways to drive it:

* per step (the evo training loop): ``loss = opt.step(closure)`` records the closure's loss,
  checks for stagnation after every step and scores candidates with the closure itself
  (the loss on the current batch after the refinement steps); no model or loader needed;
* per epoch (the seed's loop): ``step()`` per batch, then ``update_loss(epoch_loss)`` and
  ``check_and_escape(model, train_loader, val_loader, criterion, device)`` per epoch; candidates
  are refined on batches of ``train_loader`` and scored on the whole train or val loader.

Differences from the seed's code (its defects, fixed here):

* candidate evaluation runs on copies of m, v and t (with bias correction), so the real Adam
  moments and step counts are untouched by an escape; the seed updated the shared moments in
  place, without bias correction (30 extra updates per escape with the defaults);
* the model's train/eval mode is restored after loader-based scoring (the seed left it in eval);
* the perturbation scale has a floor (``perturbation_floor``) so zero weights are perturbed,
  and Adam's step size is capped (``max_step_scale``) so that ``v -> 0`` cannot blow it up to lr/eps;
* ``scale_distribution`` accepts string keys (JSON configs: ``{"0.5": 2}``);
* stagnation is measured on smoothed series (half-window means) against relative thresholds
  (the seed's were absolute: mean |change| between consecutive raw values), and the loss
  plateau alone decides when ``use_loss_plateau`` (the default): the seed ANDed it with
  ``mean |d grad_norm| < 1e-6`` on raw per-batch norms, which minibatch noise essentially never
  satisfies, so escapes did not fire. With ``use_loss_plateau=False`` the gradient-norm plateau
  decides. Only the last window of each series is kept, and both are cleared after an escape,
  so the next escape needs a fresh full window;
* a candidate whose score is NaN/inf is never chosen; if all are, the weights stay;
* ``eval_batch_size_factor`` (unused upstream) keeps that fraction of each refinement batch;
  the refinement batches are drawn once per escape and shared by all candidates (fair scores).

Statistics (``get_stats``): step, escape_count, escape_distances, escape_steps, escape_losses,
avg_escape_distance, best_val_loss, best_loss, current_grad_norm, stagnation_count,
candidate_evaluations (closure or loader evaluations spent on escapes).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import torch

from optimizers._common import as_float
from optimizers.opaque.alme_escape import (
    BatchScorer,
    CandidateScorer,
    ClosureScorer,
    Slot,
    adam_update,
    effective_step_size,
    half_window_plateau,
    sample_candidates,
)
from optimizers.opaque.alme_settings import DEFAULT_SCALES, LANDSCAPE_SETTINGS, alme_defaults

__all__ = ["ALME", "DEFAULT_SCALES", "LANDSCAPE_SETTINGS"]

class ALME(torch.optim.Optimizer):
    """Adam with stagnation detection and a population-based escape (see the module docstring).

    Every hyperparameter below (all but ``generator``) lives in ``defaults`` and in each param
    group, like torch.optim's, so it is saved by ``state_dict`` and restored by
    ``load_state_dict``. The Adam terms (lr, betas, eps, weight_decay) and the perturbation
    terms (perturbation_floor, max_step_scale) act per group; the rest describe the one
    stagnation test and escape shared by all parameters and are read from the first group
    (:attr:`settings`).

    Args:
        params: parameters or param-group dicts (any hyperparameter below may be set per group).
        lr, betas, eps, weight_decay: Adam hyperparameters (decoupled weight decay).
        grad_norm_window, grad_norm_threshold: window and relative threshold of the
            gradient-norm plateau (used when ``use_loss_plateau`` is False).
        loss_window, loss_threshold: window and relative threshold of the loss plateau.
        stagnation_patience: stagnant checks in a row that trigger an escape.
        use_loss_plateau: decide stagnation on the loss (default) or on the gradient norm.
        population_size: number of candidates; must equal the sum of the scale counts.
        scale_distribution: ``{scale: count}``; keys may be strings (JSON).
        n_eval_steps: Adam refinement steps per candidate.
        eval_batch_size_factor: fraction in (0, 1] of each loader batch used for refinement.
        eval_on: "train" or "val": the loader that scores candidates in ``check_and_escape``.
        track_best: keep a copy of the weights with the best validation loss.
        perturbation_floor: smallest |w| used in the perturbation scale (not in the seed).
        max_step_scale: cap on Adam's effective step size in the perturbation (not in the seed).
        generator: optional ``torch.Generator`` for candidate noise (else the global RNG).

    Raises:
        ValueError: an argument outside its range; the message names it.

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([2.0, -1.0]))
        >>> opt = ALME([w], lr=0.1)
        >>> def closure():
        ...     opt.zero_grad()
        ...     loss = (w**2).sum()
        ...     loss.backward()
        ...     return loss
        >>> for _ in range(100):
        ...     _ = opt.step(closure)
        >>> bool(closure().item() < 0.1)
        True
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        grad_norm_window: int = 10,
        grad_norm_threshold: float = 1e-6,
        loss_window: int = 10,
        loss_threshold: float = 1e-5,
        stagnation_patience: int = 5,
        use_loss_plateau: bool = True,
        population_size: int = 10,
        scale_distribution: Mapping[float | str, int] | None = None,
        n_eval_steps: int = 3,
        eval_batch_size_factor: float = 1.0,
        eval_on: str = "train",
        track_best: bool = True,
        perturbation_floor: float = 1e-3,
        max_step_scale: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        defaults = alme_defaults(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
            grad_norm_window=grad_norm_window, grad_norm_threshold=grad_norm_threshold,
            loss_window=loss_window, loss_threshold=loss_threshold,
            stagnation_patience=stagnation_patience, use_loss_plateau=use_loss_plateau,
            population_size=population_size, scale_distribution=scale_distribution, n_eval_steps=n_eval_steps,
            eval_batch_size_factor=eval_batch_size_factor, eval_on=eval_on, track_best=track_best,
            perturbation_floor=perturbation_floor, max_step_scale=max_step_scale,
        )  # fmt: skip
        super().__init__(params, defaults)
        self.generator = generator
        self.state["global"] = {
            "step": 0, "grad_norm_history": [], "loss_history": [], "stagnation_count": 0,
            "escape_count": 0, "escape_distances": [], "escape_steps": [], "escape_losses": [],
            "best_val_loss": math.inf, "best_params": None, "best_loss": math.inf,
            "current_grad_norm": 0.0, "candidate_evaluations": 0,
        }

    # -- public API ------------------------------------------------------------------------
    @property
    def global_state(self) -> dict[str, Any]:
        """Bookkeeping shared by all parameters (``self.state["global"]``, saved in state_dict)."""
        return self.state["global"]

    @property
    def settings(self) -> dict[str, Any]:
        """The first param group: its values drive what all groups share (see the class doc)."""
        return self.param_groups[0]

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One Adam step; with a closure also record its loss and escape on stagnation."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        grads = [p.grad for p in self._params_with_grad()]
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("ALME does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                adam_update(p, p.grad, state["exp_avg"], state["exp_avg_sq"], state["step"], group)
        g = self.global_state
        g["step"] += 1
        g["current_grad_norm"] = _total_norm(grads)
        self._record("grad_norm_history", g["current_grad_norm"], self.settings["grad_norm_window"])
        if loss is not None:
            self.update_loss(loss)
            if self._detect_stagnation():
                self._escape_local_minimum(self._closure_scorer(closure))
        return loss

    def update_loss(self, loss: float | torch.Tensor) -> None:
        """Record a training loss (per step or per epoch) for the plateau test."""
        value = as_float(loss)
        self._record("loss_history", value, self.settings["loss_window"])
        self.global_state["best_loss"] = min(self.global_state["best_loss"], value)

    def check_and_escape(
        self,
        model: torch.nn.Module,
        train_loader: Iterable[Any],
        val_loader: Iterable[Any] | None = None,
        criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        device: str | torch.device = "cpu",
    ) -> bool:
        """Check for stagnation once; on stagnation escape using the loaders.

        Returns True when the weights moved to a candidate (False when not stagnant, or when
        every candidate's score was NaN/inf: the weights then stay where they were).
        """
        if not self._detect_stagnation():
            return False
        if criterion is None:
            raise ValueError("Invalid criterion: None (check_and_escape needs a loss function to score)")
        settings = self.settings
        score_loader = val_loader if settings["eval_on"] == "val" and val_loader is not None else train_loader
        scorer = BatchScorer(
            self._slots(), model, train_loader, score_loader, criterion, device,
            settings["n_eval_steps"], settings["eval_batch_size_factor"],
        )  # fmt: skip
        return self._escape_local_minimum(scorer)

    @torch.no_grad()
    def update_best_params(self, val_loss: float | torch.Tensor) -> bool:
        """Keep a copy of the weights if ``val_loss`` is the best so far (when track_best)."""
        value = as_float(val_loss)
        g = self.global_state
        if not self.settings["track_best"] or not value < g["best_val_loss"]:
            return False
        g["best_val_loss"] = value
        g["best_params"] = [p.detach().clone() for p in self._all_params()]
        return True

    def get_best_params(self) -> list[torch.Tensor] | None:
        """The best weights recorded by :meth:`update_best_params` (None before any)."""
        return self.global_state["best_params"]

    @torch.no_grad()
    def load_best_params(self) -> bool:
        """Copy the best recorded weights back into the parameters; False if none."""
        best = self.global_state["best_params"]
        if best is None:
            return False
        for p, b in zip(self._all_params(), best, strict=True):
            p.copy_(b)
        return True

    def get_stats(self) -> dict[str, Any]:
        """Escape statistics for reports (see the module docstring for the keys)."""
        g = self.global_state
        distances = list(g["escape_distances"])
        return {
            "step": g["step"],
            "escape_count": g["escape_count"],
            "escape_distances": distances,
            "escape_steps": list(g["escape_steps"]),
            "escape_losses": list(g["escape_losses"]),
            "avg_escape_distance": sum(distances) / len(distances) if distances else 0.0,
            "best_val_loss": g["best_val_loss"],
            "best_loss": g["best_loss"],
            "current_grad_norm": g["current_grad_norm"],
            "stagnation_count": g["stagnation_count"],
            "candidate_evaluations": g["candidate_evaluations"],
        }

    # -- internals -------------------------------------------------------------------------
    def _all_params(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def _params_with_grad(self) -> list[torch.Tensor]:
        return [p for p in self._all_params() if p.grad is not None]

    def _slots(self) -> list[Slot]:
        """Every parameter with its group and its (possibly empty) state, for the escape code."""
        return [(p, group, self.state.get(p, {})) for group in self.param_groups for p in group["params"]]

    def _step_sizes(self) -> list[torch.Tensor]:
        """Each parameter's capped Adam step size (``effective_step_size``)."""
        return [effective_step_size(p, state, group) for p, group, state in self._slots()]

    def _candidates(self, origin: list[torch.Tensor]) -> Iterator[list[torch.Tensor]]:
        """The escape's perturbed copies of ``origin`` (the parameters' values, in group order)."""
        floors = [group["perturbation_floor"] for _, group, _ in self._slots()]
        scales = self.settings["scale_distribution"]
        return sample_candidates(origin, self._step_sizes(), floors, scales, self.generator)

    def _closure_scorer(self, closure: Callable[[], Any]) -> ClosureScorer:
        return ClosureScorer(self._slots(), closure, self.settings["n_eval_steps"])

    def _record(self, key: str, value: float, window: int) -> None:
        history = self.global_state[key]
        history.append(value)
        del history[:-window]

    def _detect_stagnation(self) -> bool:
        """Update the stagnation counter from one plateau check; True when it reaches patience."""
        g, s = self.global_state, self.settings
        if s["use_loss_plateau"]:
            verdict = half_window_plateau(g["loss_history"], s["loss_window"], s["loss_threshold"], True)
        else:
            verdict = half_window_plateau(
                g["grad_norm_history"], s["grad_norm_window"], s["grad_norm_threshold"], False
            )
        if verdict is None:
            return False
        g["stagnation_count"] = g["stagnation_count"] + 1 if verdict else 0
        return g["stagnation_count"] >= s["stagnation_patience"]

    @torch.no_grad()
    def _escape_local_minimum(self, scorer: CandidateScorer) -> bool:
        """Sample, refine and score the candidates; move to the best one. False if none was finite."""
        params = self._all_params()
        origin = [p.detach().clone() for p in params]
        best_loss, best_params = math.inf, None
        for candidate in self._candidates(origin):
            for p, c in zip(params, candidate, strict=True):
                p.copy_(c)
            loss = scorer.refine_and_score()
            if math.isfinite(loss) and loss < best_loss:
                best_loss, best_params = loss, [p.detach().clone() for p in params]
        g = self.global_state
        g["candidate_evaluations"] += scorer.evaluations
        g["stagnation_count"] = 0
        g["loss_history"].clear()
        g["grad_norm_history"].clear()
        escaped = best_params is not None
        target = best_params if best_params is not None else origin  # all diverged: stay
        for p, b in zip(params, target, strict=True):
            p.copy_(b)
        if escaped:
            pairs = zip(target, origin, strict=True)
            g["escape_count"] += 1
            g["escape_distances"].append(math.sqrt(sum(float((b - o).pow(2).sum()) for b, o in pairs)))
            g["escape_steps"].append(g["step"])
            g["escape_losses"].append(best_loss)
        return escaped


def _total_norm(grads: list[torch.Tensor]) -> float:
    """L2 norm of all gradients as one flat vector."""
    if not grads:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))
