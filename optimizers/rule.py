"""The genome update rule, defined once.

This module imports only ``torch`` and the rule's modules: :mod:`optimizers.export` copies its
source verbatim into every exported optimizer file (with :mod:`optimizers.rule_parts`,
:mod:`optimizers.rule_fast` and
:mod:`optimizers.rule_optimizer`), so the per-model optimizer
(:class:`~optimizers.rule_optimizer.RuleOptimizer`, base of ``GenomeOptimizer`` and of every
exported class), the population update used by the workers (:func:`rule_update_` on stacked parameters with
per-member coefficients) and the exported file run the same code.

Per parameter, with global step k (0-based, per param group) and per-parameter step t
(1-based), base learning rate eta (the group's current ``lr``, which torch schedulers may
change):

.. math::

    \\eta_k &= \\eta \\cdot w(k) \\cdot c(k), \\quad
        w(k) = \\min(1, (k+1)/W) \\text{ if warmup}, \\quad
        c(k) = \\tfrac12 (1 + \\cos(\\pi \\min(k, K) / K)) \\text{ if cosine} \\\\
    g &= \\mathrm{clamp}(\\pm\\nabla, -c, c) \\text{ if clipping} \\quad (-\\nabla \\text{ if maximize}) \\\\
    p &\\leftarrow p (1 - \\eta_k \\lambda) \\\\
    m &\\leftarrow \\beta_1 m + (1-\\beta_1) g \\quad (m = g \\text{ without use\\_m}) \\\\
    v &\\leftarrow \\beta_2 v + (1-\\beta_2) g^2 \\quad (v = g^2 \\text{ without use\\_v}) \\\\
    \\hat m &= m / (1-\\beta_1^t), \\; \\hat v = v / (1-\\beta_2^t) \\text{ with bias correction} \\\\
    p &\\leftarrow p - \\eta_k \\sum_j \\alpha_j T_j(g, \\hat m, \\hat v)

with the terms T_j: GRAD g, MOMENTUM m_hat, RMS_NORM g / (sqrt(v_hat) + eps), ADAM_TERM
m_hat / (sqrt(v_hat) + eps) (both share one denominator), SIGN_GRAD sign(g), SQRT_GRAD
g / (|g| + eps) (a smoothed sign, despite the seed's name) and NESTEROV
m_hat + 0.9 (g - m_hat). ``use_m=False`` is computed as beta1 = 0 (then m = g exactly and its
bias correction is 1), likewise ``use_v=False`` as beta2 = 0. The sum runs in term order.

The extended term set (``population.terms: extended``; the seed's seven keep their indices)
adds two terms that read the momentum the way Lion and NAdam do:

.. math::

    T_7 = \\mathrm{LION} &= \\mathrm{sign}(0.9\\, m_{prev} + 0.1\\, g)
        = \\mathrm{sign}\\big(\\tfrac{0.9}{\\beta_1} m + (1 - \\tfrac{0.9}{\\beta_1}) g\\big)
        \\quad (\\beta_1 > 0) \\\\
    T_8 = \\mathrm{NADAM} &= \\Big(\\frac{\\beta_1 m}{1 - \\beta_1^{t+1}}
        + \\frac{(1-\\beta_1) g}{1 - \\beta_1^{t}}\\Big) \\Big/ (\\sqrt{\\hat v} + \\epsilon)

LION: m_prev is the raw first moment *before* this step's update (m = beta1 m_prev +
(1 - beta1) g, hence the second form; the stored previous g without ``use_m``), no bias
correction. A genome [LION] x1 with beta1 = b2 is Lion(betas=(0.9, b2)) exactly
(:mod:`optimizers.opaque.lion`: c = sign(b1 m + (1 - b1) g), m <- b2 m + (1 - b2) g, decoupled
decay), for Lion's default b1 = 0.9 and any b2. It is computed from m_prev before the
moment update (one temporary), so no division by beta1 is needed.

NADAM is Nesterov momentum over Adam's denominator with Dozat's bias corrections and a
constant momentum schedule mu_t = beta1: the look-ahead momentum beta1 m + (1 - beta1) g
with m bias-corrected as the next step's (1 - beta1^(t+1)) and g as this step's
(1 - beta1^t), over sqrt(v_hat) + eps. A genome [NADAM] x1 is ``torch.optim.NAdam(
momentum_decay=inf, decoupled_weight_decay=True)`` (0.96^(t psi) = 0, so mu_t = mu_{t+1} =
beta1 and mu_product = beta1^t; torch's default psi = 4e-3 gives a time-varying mu_t ~ beta1 / 2
that no genome expresses) and optax's ``nadam``. Without bias correction it is beta1
ADAM_TERM + (1 - beta1) RMS_NORM; without ``use_m`` it is RMS_NORM.

The scaled term set adds Muon's orthogonalised momentum and a flag for LAMB's trust ratio.
On a matrix W (a 2-D parameter) of shape A x B:

.. math::

    T_9 = \\mathrm{ORTHO} = 0.2 \\sqrt{\\max(A, B)}\\; \\mathrm{NS}_5(\\beta_1 m + (1 - \\beta_1) g)

with m this step's raw first moment (so beta_1 m + (1 - beta_1) g is Muon's Nesterov
look-ahead ``g.lerp(m, beta1)``) and NS_5 five Newton-Schulz steps X <- a X + (b G + c G^2) X,
G = X X^T, (a, b, c) = (3.4445, -4.7750, 2.0315), from X = x / max(||x||_F, 1e-7) (x
transposed when A > B), in bfloat16: ``torch.optim.Muon``'s iteration. Its singular values
come out near 1, so the update's RMS is about 0.2 sqrt(max(A, B)) / sqrt(AB) sqrt(min(A, B))
= 0.2, AdamW's typical update RMS (``adjust_lr_fn="match_rms_adamw"``): one lr serves both.
On every other tensor (biases, convolution kernels, scalars) ORTHO is the ADAM_TERM (Muon's
practice: Adam for what is not a matrix). A genome [ORTHO] x1 is ``torch.optim.Muon(lr,
weight_decay, momentum=beta1, nesterov=True, adjust_lr_fn="match_rms_adamw")`` on matrices.

With ``use_trust_ratio`` the decay moves into the summed update and the step is scaled per
tensor (LAMB, You et al. 2019):

.. math::

    u = \\sum_j \\alpha_j T_j + \\lambda p, \\qquad
    p \\leftarrow p - \\eta_k \\frac{\\min(\\lVert p \\rVert, 10)}{\\lVert u \\rVert} u

(Frobenius norms per tensor, per member in a population), with the ratio 1 where
||p|| = 0 or ||u|| = 0, so zero-initialised tensors still move. Every step then moves a
tensor by eta_k min(||p||, 10) whatever the gradient's scale.

Numerics: every scalar (eta_k, 1 - eta_k lambda, the betas, bias corrections, eps, alphas)
is computed in float32 at least: float32 for fp32/fp16/bf16 parameters (never in the
parameter's own low precision, where beta2 = 0.999 would round to 1), float64 for float64
parameters; the fast path's Python floats are those same values. bf16/fp16 parameters keep their moments in
float32 and receive the float32 update rounded to their dtype. The schedule's cosine is
evaluated in float64 and rounded once to the scalars' dtype.

Two formulations of the same maths: the exact one (:func:`rule_update_`: the per-tensor loop,
the population path the workers evaluate with, and ``torch.compile``) and the fast one
(:func:`~optimizers.rule_fast.rule_update_fast_`: the eager multi-tensor path), which folds
the bias corrections and term weights into Python-float coefficients and fuses the updates the way
``torch.optim.AdamW(foreach=True)`` does. With sb = sqrt(1 - beta_2^t) (1 without bias
correction), b1 = 1 - beta_1^t and b1' = 1 - beta_1 (1 - b1) (= 1 - beta_1^(t+1); 1 without
bias correction):

.. math::

    D &= \\sqrt{v} + \\epsilon\\, s_b \\quad (\\text{so } \\sqrt{\\hat v} + \\epsilon = D / s_b) \\\\
    p &\\leftarrow p - \\eta_k \\big[(\\alpha_{ADAM} s_b / b_1 + \\alpha_{NADAM} s_b \\beta_1 / b_1')\\, m / D
        + (\\alpha_{RMS} s_b + \\alpha_{NADAM} s_b (1 - \\beta_1) / b_1)\\, g / D \\\\
        &\\qquad + ((\\alpha_{MOM} + 0.1 \\alpha_{NEST}) / b_1)\\, m
        + (\\alpha_{GRAD} + 0.9 \\alpha_{NEST})\\, g
        + \\alpha_{SIGN} \\mathrm{sign}(g) + \\alpha_{SQRT}\\, g / (|g| + \\epsilon)
        + \\alpha_{LION} \\mathrm{sign}(0.9 m_{prev} + 0.1 g)\\big]

(m by ``lerp_``, v by ``mul_`` + ``addcmul_``, each group of terms applied to p by one
``addcdiv_``/``add_``; LION's sign is taken before ``lerp_`` updates m, by the exact
formulation's own operations, so from the same state its direction is bit-identical). It
differs from the exact formulation only by rounding (float32 parameters agree within 1e-6
over a training run, tested).
"""

import torch

from optimizers.rule_parts import (  # noqa: F401 - the rule's names, re-exported
    LION_MIX,
    NESTEROV_MIX,
    ORTHO,
    TERM_NAMES,
    _lion_direction,
    _nadam_coefficients,
    bias_correction,
    decay_factor,
    ortho_terms,
    rule_coefficients,
    scheduled_lr,
    step_scalars,
    trust_ratios,
)

LOW_PRECISION = (torch.float16, torch.bfloat16)
M_HAT_TERMS = (1, 3, 6, ORTHO)
"""Terms reading m_hat (ORTHO: on the tensors that are not matrices)."""
DENOM_TERMS = (2, 3, 8, ORTHO)
"""Terms reading the shared denominator sqrt(v_hat) + eps."""


def _each(value, n):
    return value if isinstance(value, list) else [value] * n


def _scale_(term, weight, unit):
    """term *= weight, skipped when every weight is exactly 1 (x * 1 == x: no number moves)."""
    if not unit:
        torch._foreach_mul_(term, weight)


def rule_update_(
    params,
    grads,
    exp_avgs,
    exp_avg_sqs,
    s,
    bc1,
    bc2,
    active_terms,
    clipping=True,
    maximize=False,
    unit_terms=(),
    stacked=False,
):
    """One step of the rule on lists of tensors, in place (params and moments).

    Args:
        params, grads, exp_avgs, exp_avg_sqs: lists of tensors, one shape per index. Moments
            are float32 when a parameter is fp16/bf16 (the maths then runs in float32).
        s: :func:`step_scalars`; each value is a 0-d float32 tensor (one genome) or a list
            of tensors broadcastable to each parameter (a population's ``[P, 1, ...]`` views).
        bc1, bc2: bias corrections (None: off), a scalar or a list as in ``s``.
        active_terms: indices of the terms to sum, in order.
        unit_terms: terms whose weight is exactly 1 for every member (no multiplication).
        clipping: apply the element-wise clamp (False skips it: clip is inf).
        stacked: each tensor stacks members ``[P, ...]`` (ORTHO's matrices are then ``[P, A, B]``
            and the trust ratio is per member and tensor).
    Temporaries: at most three full-size lists (g when clipping/maximizing/casting, the
    term sum, the m_hat / shared denominator pair) plus LION's direction when it is active,
    freed as soon as possible.
    """
    n = len(params)
    if n == 0:
        return
    g = grads
    if maximize:
        g = torch._foreach_neg(g)
    if exp_avgs[0].dtype != g[0].dtype:
        g = [x.to(exp_avgs[0].dtype) for x in g]
    if clipping:
        clip = _each(s["clip"], n)
        g = torch._foreach_maximum(g, torch._foreach_neg(clip))
        torch._foreach_minimum_(g, clip)
    torch._foreach_mul_(params, s["decay"])
    lion = _lion_direction(exp_avgs, g) if 7 in active_terms else None  # reads m before its update
    # m <- beta1 m + (1 - beta1) g ; v <- beta2 v + ((1 - beta2) g) g
    tmp = torch._foreach_mul(g, s["one_minus_beta1"])
    torch._foreach_mul_(exp_avgs, s["beta1"])
    torch._foreach_add_(exp_avgs, tmp)
    del tmp
    tmp = torch._foreach_mul(g, s["one_minus_beta2"])
    torch._foreach_mul_(tmp, g)
    torch._foreach_mul_(exp_avg_sqs, s["beta2"])
    torch._foreach_add_(exp_avg_sqs, tmp)
    del tmp
    needs_m = any(j in M_HAT_TERMS for j in active_terms)
    needs_denom = any(j in DENOM_TERMS for j in active_terms)
    m_hat = denom = delta = None
    if needs_m:
        m_hat = exp_avgs if bc1 is None else torch._foreach_div(exp_avgs, bc1)
    if needs_denom:
        if bc2 is None:
            denom = torch._foreach_sqrt(exp_avg_sqs)
        else:
            denom = torch._foreach_div(exp_avg_sqs, bc2)
            torch._foreach_sqrt_(denom)
        torch._foreach_add_(denom, s["eps"])
    last_m = max((j for j in active_terms if j in M_HAT_TERMS), default=None)
    last_denom = max((j for j in active_terms if j in DENOM_TERMS), default=None)
    for j in active_terms:
        if j == 0:  # GRAD
            term = torch._foreach_mul(g, s["weights"][j])
        elif j == 1:  # MOMENTUM
            term = torch._foreach_mul(m_hat, s["weights"][j])
        elif j == 2:  # RMS_NORM
            term = torch._foreach_div(g, denom)
            _scale_(term, s["weights"][j], j in unit_terms)
        elif j == 3:  # ADAM_TERM
            if j == last_m and m_hat is not exp_avgs:  # m_hat's last use: divide it in place
                term = m_hat
                torch._foreach_div_(term, denom)
            else:
                term = torch._foreach_div(m_hat, denom)
            _scale_(term, s["weights"][j], j in unit_terms)
        elif j == 4:  # SIGN_GRAD
            term = torch._foreach_sign(g)
            _scale_(term, s["weights"][j], j in unit_terms)
        elif j == 5:  # SQRT_GRAD
            smooth = torch._foreach_abs(g)
            torch._foreach_add_(smooth, s["eps"])
            term = torch._foreach_div(g, smooth)
            del smooth
            _scale_(term, s["weights"][j], j in unit_terms)
        elif j == 6:  # NESTEROV: m_hat + 0.9 (g - m_hat)
            term = torch._foreach_sub(g, m_hat)
            torch._foreach_mul_(term, NESTEROV_MIX)
            torch._foreach_add_(term, m_hat)
            _scale_(term, s["weights"][j], j in unit_terms)
        elif j == 7:  # LION: sign(0.9 m_prev + 0.1 g), taken before the moment update
            term, lion = lion, None
            _scale_(term, s["weights"][j], j in unit_terms)
        elif j == 8:  # NADAM: (beta1 m / (1 - beta1^(t+1)) + (1 - beta1) g / (1 - beta1^t)) / denom
            coef_m, coef_g = _nadam_coefficients(s, bc1, n)
            term = torch._foreach_mul(exp_avgs, coef_m)
            tmp = torch._foreach_mul(g, coef_g)
            torch._foreach_add_(term, tmp)
            del tmp
            torch._foreach_div_(term, denom)
            _scale_(term, s["weights"][j], j in unit_terms)
        elif j == ORTHO:  # NS(beta1 m + (1 - beta1) g) 0.2 sqrt(max(A, B)) on matrices, else ADAM_TERM
            term = ortho_terms(g, exp_avgs, m_hat, denom, s["beta1"], stacked)
            _scale_(term, s["weights"][j], j in unit_terms)
        else:
            raise ValueError(f"Invalid term: {j}")
        if delta is None:
            delta = term
        else:
            torch._foreach_add_(delta, term)
        del term
        if j == last_m:
            m_hat = None
        if j == last_denom:
            denom = None
    if "trust_decay" in s:  # u = sum + wd p (p not decayed where trusting), p <- p - lr r u
        delta = delta if delta is not None else torch._foreach_mul(params, 0.0)
        decay = torch._foreach_mul(params, s["trust_decay"])
        torch._foreach_add_(delta, decay)
        del decay
        torch._foreach_mul_(delta, trust_ratios(params, delta, stacked, s["trust"]))
    if delta is None:
        return
    torch._foreach_mul_(delta, s["lr"])
    torch._foreach_sub_(params, delta)


def per_member(scalars, tensors):
    """Population form of :func:`step_scalars`: each ``[P]`` value becomes, per tensor of
    ``tensors`` (shape ``[P, ...]``), a ``[P, 1, ..., 1]`` view broadcasting over it."""

    def views(c):
        if isinstance(c, list):
            return [views(x) for x in c]
        if not isinstance(c, torch.Tensor) or c.dim() == 0:
            return c
        return [c.view(c.shape[0], *([1] * (t.dim() - 1))) for t in tensors]

    return {key: views(value) for key, value in scalars.items()}


def population_update_(params, grads, exp_avgs, exp_avg_sqs, t, lr, coef):
    """:func:`rule_update_` for population-stacked tensors ``[P, ...]``, in place.

    Args:
        t: the members' common step count after increment (1-based int).
        lr: scheduled learning rates ``[P]`` (:func:`scheduled_lr`); coef: the population's
            :func:`rule_coefficients` (shape ``[P]``; shape ``[]`` works too).
    """
    scalars = step_scalars(coef, lr)
    scalars["bc1"] = bias_correction(coef["beta1"], t, coef["bias_correction"])
    scalars["bc2"] = bias_correction(coef["beta2"], t, coef["bias_correction"])
    s = per_member(scalars, params)
    rule_update_(
        params,
        grads,
        exp_avgs,
        exp_avg_sqs,
        s,
        s["bc1"],
        s["bc2"],
        coef["active_terms"],
        coef["clipping"],
        unit_terms=coef["unit_terms"],
        stacked=coef["lr"].dim() > 0,
    )


def rule_step(param, grad, exp_avg, exp_avg_sq, t, lr, coef):
    """Out-of-place :func:`population_update_` of one tensor: returns ``(param, m, v)``."""
    p, m, v = param.clone(), exp_avg.clone(), exp_avg_sq.clone()
    population_update_([p], [grad], [m], [v], t, lr, coef)
    return p, m, v
