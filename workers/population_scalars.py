"""The population update's per-member scalars for every step of a request, built once.

:func:`optimizers.rule.population_update_` builds, at every step k (0-based) and for every
stacked tensor, the rule's scalars as ``[P, 1, ..., 1]`` views: the scheduled rate
``lr_k = scheduled_lr(coef, k, K)``, the decay factor ``1 - lr_k wd``, the bias corrections
``1 - beta^(k+1)`` (1 where off), and the step-independent betas, their complements, eps,
clip and term weights. That is some forty tiny tensor operations per step, a visible share
of a small model's step. :class:`PopulationScalars` computes the step-dependent values with
the very same calls (:func:`~optimizers.rule.scheduled_lr`, :func:`~optimizers.rule.step_scalars`,
:func:`~optimizers.rule.bias_correction`) for each step once per request and stacks them
``[K, P]``; a step then only selects row k and slices its members, so the numbers are those
of ``population_update_`` bit for bit (``tests/test_population_scalars.py``).
"""

from __future__ import annotations

import torch

from optimizers.rule import bias_correction, rule_update_, scheduled_lr, step_scalars

Tensor = torch.Tensor

PER_STEP = ("lr", "decay", "bc1", "bc2")
"""The scalars that change with the step; every other one is fixed for the request."""
FIXED = ("beta1", "one_minus_beta1", "beta2", "one_minus_beta2", "eps", "clip")


def _shaped(values: Tensor, ndim: int) -> Tensor:
    """``[..., P]`` -> ``[..., P, 1, ..., 1]`` broadcasting over a stacked tensor of ``ndim`` dims."""
    return values.view(*values.shape, *([1] * (ndim - 1)))


class PopulationScalars:
    """The rule's scalars of a population (coefficients ``[P]``) for steps 0..steps-1."""

    def __init__(self, coef: dict, steps: int) -> None:
        self.coef = coef
        rows: dict[str, list[Tensor]] = {key: [] for key in PER_STEP}
        for k in range(steps):  # the calls population_update_ makes at step k, in its order
            scalars = step_scalars(coef, scheduled_lr(coef, k, steps))
            rows["lr"].append(scalars["lr"])
            rows["decay"].append(scalars["decay"])
            rows["bc1"].append(bias_correction(coef["beta1"], k + 1, coef["bias_correction"]))
            rows["bc2"].append(bias_correction(coef["beta2"], k + 1, coef["bias_correction"]))
        self.table = {key: torch.stack(values) for key, values in rows.items()}  # [K, P]
        fixed = step_scalars(coef, coef["lr"])
        self.fixed = {key: fixed[key] for key in FIXED}
        self.weights = fixed["weights"]  # one [P] tensor per term
        self._shaped: dict[tuple[str, int], Tensor] = {}

    def _table(self, key: str, ndim: int) -> Tensor:
        """``[K, P, 1, ...]`` (per step) or ``[P, 1, ...]`` (fixed) for tensors of ``ndim`` dims."""
        if (key, ndim) not in self._shaped:
            if key in PER_STEP:
                self._shaped[key, ndim] = _shaped(self.table[key], ndim)
            else:
                values = self.weights[int(key[1:])] if key.startswith("w") else self.fixed[key]
                self._shaped[key, ndim] = _shaped(values, ndim)
        return self._shaped[key, ndim]

    def at(self, step: int, tensors: list[Tensor], lo: int = 0, hi: int | None = None) -> dict:
        """The scalars ``s`` of :func:`optimizers.rule.rule_update_` (plus ``bc1``, ``bc2``) at
        0-based ``step`` for members lo:hi of ``tensors`` (stacked ``[hi - lo, ...]``)."""
        hi = self.table["lr"].shape[1] if hi is None else hi
        whole = lo == 0 and hi == self.table["lr"].shape[1]
        rows: dict[tuple[str, int], Tensor] = {}

        def column(key: str) -> list[Tensor]:
            out = []
            for t in tensors:
                if (key, t.dim()) not in rows:
                    table = self._table(key, t.dim())
                    row = table[step] if key in PER_STEP else table
                    rows[key, t.dim()] = row if whole else row[lo:hi]
                out.append(rows[key, t.dim()])
            return out

        s = {key: column(key) for key in (*PER_STEP, *FIXED)}
        s["weights"] = [column(f"w{j}") for j in range(len(self.weights))]
        return s

    def update_(
        self, step: int, params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor],
        exp_avg_sqs: list[Tensor], lo: int = 0, hi: int | None = None,
    ) -> None:  # fmt: skip
        """``population_update_(params, grads, ..., step + 1, lr_step, coef)`` on members lo:hi
        (lists of stacked tensors ``[hi - lo, ...]``), in place, with the cached scalars."""
        s = self.at(step, params, lo, hi)
        coef = self.coef
        rule_update_(
            params, grads, exp_avgs, exp_avg_sqs, s, s["bc1"], s["bc2"], coef["active_terms"],
            coef["clipping"], unit_terms=coef["unit_terms"],
        )  # fmt: skip
