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

On a CPU the rates and decay factors of all K steps come from one call of those functions on
a column of steps ``[K, 1]`` (float64, as the per-step call's 0-d step): the same
element-wise operations on the same operands, so the same numbers (the test compares the
table with the per-step calls for K up to 1000), with some fifteen tensor operations per
request instead of per step. The bias corrections stay per step: ``beta ** t`` with an integer
``t`` runs ATen's scalar-exponent power, which a tensor of exponents would not. Elsewhere (a
GPU) every value is computed per step as in ``population_update_``, on its device.
"""

from __future__ import annotations

import torch

from optimizers.rule import ORTHO, bias_correction, rule_update_, scheduled_lr, step_scalars

Tensor = torch.Tensor

PER_STEP = ("lr", "decay", "bc1", "bc2")
"""The scalars that change with the step; every other one is fixed for the request."""
FIXED = ("beta1", "one_minus_beta1", "beta2", "one_minus_beta2", "eps", "clip")
TRUST = ("trust_decay", "trust")
"""Fixed scalars too, present when some member applies the trust ratio."""


class PopulationScalars:
    """The rule's scalars of a population (coefficients ``[P]``) for steps 0..steps-1."""

    def __init__(self, coef: dict, steps: int) -> None:
        self.coef = coef
        rows: dict[str, list[Tensor]] = {key: [] for key in PER_STEP}
        on_cpu = coef["lr"].device.type == "cpu"
        for k in range(steps):  # the calls population_update_ makes at step k, in its order
            if not on_cpu:
                scalars = step_scalars(coef, scheduled_lr(coef, k, steps))
                rows["lr"].append(scalars["lr"])
                rows["decay"].append(scalars["decay"])
            rows["bc1"].append(bias_correction(coef["beta1"], k + 1, coef["bias_correction"]))
            rows["bc2"].append(bias_correction(coef["beta2"], k + 1, coef["bias_correction"]))
        self.table = {key: torch.stack(values) for key, values in rows.items() if values}  # [K, P]
        if on_cpu:  # every step at once: a column of steps [K, 1], the same element-wise operations
            column = torch.arange(steps, dtype=torch.float64).view(steps, *([1] * coef["lr"].dim()))
            scalars = step_scalars(coef, scheduled_lr(coef, column, steps))
            self.table["lr"], self.table["decay"] = scalars["lr"], scalars["decay"]
        fixed = step_scalars(coef, coef["lr"])
        self.fixed = {key: fixed[key] for key in (*FIXED, *TRUST) if key in fixed}
        self.elementwise = ORTHO not in coef["active_terms"] and not coef.get("trusting", False)
        """The update is element-wise (no ORTHO, no trust ratio): flat buffers may be updated whole."""
        self.weights = fixed["weights"]  # one [P] tensor per term
        self._layouts: dict[tuple[int, int, tuple[int, ...]], tuple[dict, dict]] = {}

    def _layout(self, lo: int, hi: int, dims: tuple[int, ...]) -> tuple[dict, dict]:
        """For members lo:hi of tensors with ``dims`` dimensions: the fixed scalars as ``s``
        lists, and per step-dependent key and dimension count the table ``[K, hi - lo, 1, ...]``."""
        key = (lo, hi, dims)
        if key not in self._layouts:

            def shaped(values: Tensor, ndim: int) -> Tensor:  # [..., P] -> [..., hi - lo, 1, ..., 1]
                return values[..., lo:hi].view(*values.shape[:-1], hi - lo, *([1] * (ndim - 1)))

            fixed = {k: [shaped(self.fixed[k], d) for d in dims] for k in self.fixed}
            fixed["weights"] = [[shaped(w, d) for d in dims] for w in self.weights]
            tables = {k: {d: shaped(self.table[k], d) for d in set(dims)} for k in PER_STEP}
            self._layouts[key] = (fixed, tables)
        return self._layouts[key]

    def at(self, step: int, tensors: list[Tensor], lo: int = 0, hi: int | None = None) -> dict:
        """The scalars ``s`` of :func:`optimizers.rule.rule_update_` (plus ``bc1``, ``bc2``) at
        0-based ``step`` for members lo:hi of ``tensors`` (stacked ``[hi - lo, ...]``)."""
        hi = self.table["lr"].shape[1] if hi is None else hi
        dims = tuple(t.dim() for t in tensors)
        fixed, tables = self._layout(lo, hi, dims)
        s = dict(fixed)
        for k, by_dim in tables.items():
            rows = {d: table[step] for d, table in by_dim.items()}
            s[k] = [rows[d] for d in dims]
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
            coef["clipping"], unit_terms=coef["unit_terms"], stacked=True,
        )  # fmt: skip
