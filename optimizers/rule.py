"""The genome update rule, defined once.

This module imports only ``torch`` and ``math``: :mod:`optimizers.export` copies its source
verbatim into every exported optimizer file, so the per-model optimizer
(:class:`RuleOptimizer`, base of ``GenomeOptimizer`` and of every exported class), the
population update used by the workers (:func:`rule_update_` on stacked parameters with
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
(:mod:`optimizers.lion`: c = sign(b1 m + (1 - b1) g), m <- b2 m + (1 - b2) g, decoupled
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

Numerics: every scalar (eta_k, 1 - eta_k lambda, the betas, bias corrections, eps, alphas)
is computed in float32 at least: float32 for fp32/fp16/bf16 parameters (never in the
parameter's own low precision, where beta2 = 0.999 would round to 1), float64 for float64
parameters; the fast path's Python floats are those same values. bf16/fp16 parameters keep their moments in
float32 and receive the float32 update rounded to their dtype. The schedule's cosine is
evaluated in float64 and rounded once to the scalars' dtype.

Two formulations of the same maths: the exact one (:func:`rule_update_`: the per-tensor loop,
the population path the workers evaluate with, and ``torch.compile``) and the fast one
(:func:`rule_update_fast_`: the eager multi-tensor path), which folds the bias corrections
and term weights into Python-float coefficients and fuses the updates the way
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

import math

import torch

TERM_NAMES = (  # 0..6 the seed's terms; 7 and 8 the extended set's
    "GRAD", "MOMENTUM", "RMS_NORM", "ADAM_TERM", "SIGN_GRAD", "SQRT_GRAD", "NESTEROV", "LION", "NADAM",
)
NESTEROV_MIX = 0.9
LION_MIX = 0.9
"""LION's interpolation: sign(LION_MIX m_prev + (1 - LION_MIX) g) (Lion's default beta1)."""
LOW_PRECISION = (torch.float16, torch.bfloat16)


def rule_coefficients(genomes, device=None, dtype=torch.float32):
    """Tensors of the rule's coefficients from genome dicts in the seed's JSON form.

    Args:
        genomes: one dict (coefficients of shape ``[]``) or a list of P dicts (shape ``[P]``).
    Returns:
        dict of tensors: weights ``[..., 7]``, lr, beta1, beta2, eps, weight_decay, clip,
        bias_correction, use_warmup, warmup_steps, use_cosine_decay; plus ``active_terms``
        (terms with a non-zero weight in some member), ``unit_terms`` (weight exactly 1 in
        every member) and ``clipping`` (some member clips).
    """
    single = isinstance(genomes, dict)
    rows = [genomes] if single else list(genomes)
    if not rows:
        raise ValueError("Invalid genomes: empty population")
    columns = {
        key: []
        for key in (
            "weights",
            "lr",
            "beta1",
            "beta2",
            "eps",
            "weight_decay",
            "clip",
            "bias_correction",
            "use_warmup",
            "warmup_steps",
            "use_cosine_decay",
        )
    }
    for row in rows:
        weights = [0.0] * len(TERM_NAMES)
        for term, alpha in zip(row["term_types"], row["alphas"], strict=True):
            weights[int(term)] += float(alpha)
        columns["weights"].append(weights)
        columns["lr"].append(10.0 ** row["lr_log10"])
        columns["beta1"].append(row["beta1"] if row["use_m"] else 0.0)
        columns["beta2"].append(row["beta2"] if row["use_v"] else 0.0)
        columns["eps"].append(10.0 ** row["eps_log10"])
        columns["weight_decay"].append(10.0 ** row["wd_log10"])
        columns["clip"].append(row["clip_value"] if row["use_gradient_clipping"] else math.inf)
        columns["bias_correction"].append(bool(row["use_bias_correction"]))
        columns["use_warmup"].append(bool(row["use_warmup"]))
        columns["warmup_steps"].append(float(row["warmup_steps"]))
        columns["use_cosine_decay"].append(bool(row["use_cosine_decay"]))
    out = {}
    for key, values in columns.items():
        kind = torch.bool if isinstance(values[0], bool) else dtype
        tensor = torch.tensor(values, dtype=kind, device=device)
        out[key] = tensor[0] if single else tensor
    out["active_terms"] = tuple(
        j for j in range(len(TERM_NAMES)) if any(row[j] != 0.0 for row in columns["weights"])
    )
    out["clipping"] = any(math.isfinite(c) for c in columns["clip"])
    out["unit_terms"] = tuple(
        j for j in out["active_terms"] if all(row[j] == 1.0 for row in columns["weights"])
    )
    return out


def scheduled_lr(coef, step, total_steps, lr=None):
    """Learning rate at 0-based global ``step``: base lr x warmup x cosine (as the seed).

    Warmup multiplies by (step + 1) / warmup_steps while step < warmup_steps; cosine
    multiplies by 0.5 (1 + cos(pi min(step, K) / K)) from step 0 (not after warmup), clamped
    at K = total_steps. Both multiply together. ``step`` is an int or a 0-d tensor (no host
    sync); ``lr`` (default ``coef["lr"]``) is the base rate. Shape: that of the base rate.
    """
    lr = coef["lr"] if lr is None else lr
    step = torch.as_tensor(step, dtype=torch.float64)
    warmup = coef["warmup_steps"]
    # (step + 1) x (1 / W): the rounding of the seed's ``(step + 1) / W`` with an int step (torch
    # computes int / tensor as tensor.reciprocal() * int), kept so evaluated numbers do not move
    warm = torch.where(
        coef["use_warmup"] & (step < warmup), warmup.reciprocal() * (step + 1).to(warmup.dtype), 1.0
    )
    cosine = 0.5 * (1.0 + torch.cos(math.pi * torch.clamp(step, max=total_steps) / total_steps))
    cosine = cosine.to(lr.dtype)  # float64 maths, rounded once to the rate's dtype
    decay = torch.where(coef["use_cosine_decay"], cosine.to(lr.device), 1.0)
    return lr * warm * decay


def bias_correction(beta, t, enabled=None):
    """``1 - beta**t`` (float32; ``t`` an int or a tensor of steps), or 1 where the
    ``enabled`` mask (a population's per-member flag) is False."""
    if enabled is None:
        return 1.0 - beta**t
    return torch.where(enabled, 1.0 - beta**t, 1.0)


def step_scalars(coef, lr):
    """The step's scalars shared by every tensor: decay factor 1 - lr wd, betas and their
    complements, eps, the term weights (one tensor per term) and the lr itself."""
    return {
        "lr": lr,
        "decay": 1.0 - lr * coef["weight_decay"],
        "beta1": coef["beta1"],
        "one_minus_beta1": 1.0 - coef["beta1"],
        "beta2": coef["beta2"],
        "one_minus_beta2": 1.0 - coef["beta2"],
        "eps": coef["eps"],
        "clip": coef["clip"],
        "weights": [coef["weights"][..., j] for j in range(len(TERM_NAMES))],
    }


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
    needs_m = any(j in (1, 3, 6) for j in active_terms)
    needs_denom = any(j in (2, 3, 8) for j in active_terms)
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
    last_m = max((j for j in active_terms if j in (1, 3, 6)), default=None)
    last_denom = max((j for j in active_terms if j in (2, 3, 8)), default=None)
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
    if delta is None:
        return
    torch._foreach_mul_(delta, s["lr"])
    torch._foreach_sub_(params, delta)


def _lion_direction(exp_avgs, g):
    """sign(LION_MIX m + (1 - LION_MIX) g) of the moments *before* this step's update (a new
    list). Products and a plain add: the same operations in both formulations."""
    direction = torch._foreach_mul(exp_avgs, LION_MIX)
    tmp = torch._foreach_mul(g, 1.0 - LION_MIX)
    torch._foreach_add_(direction, tmp)
    del tmp
    torch._foreach_sign_(direction)
    return direction


def _nadam_coefficients(s, bc1, n):
    """NADAM's factors of m and g: beta1 / (1 - beta1^(t+1)) and (1 - beta1) / (1 - beta1^t),
    with 1 - beta1^(t+1) = 1 - beta1 (1 - bc1); beta1 and 1 - beta1 without bias correction.
    Per tensor (lists) when ``s`` or ``bc1`` are lists, else one scalar each."""
    beta1, one_minus = s["beta1"], s["one_minus_beta1"]
    if bc1 is None:
        return beta1, one_minus
    if not any(isinstance(x, list) for x in (beta1, one_minus, bc1)):
        return beta1 / (1.0 - beta1 * (1.0 - bc1)), one_minus / bc1
    triples = zip(_each(beta1, n), _each(one_minus, n), _each(bc1, n), strict=True)
    pairs = [(b / (1.0 - b * (1.0 - c)), o / c) for b, o, c in triples]
    return [m for m, _ in pairs], [g for _, g in pairs]


def fast_coefficients(weights, bc1, bc2, beta1=None):
    """The fast formulation's per-group coefficients (Python floats) of m/D, g/D, m, g, sign(g),
    g / (|g| + eps) and LION's direction, from the term weights (7, or 9 with the extended
    set), the bias corrections 1 - beta^t (1.0 when off) and beta1 (needed by NADAM only)."""
    weights = [*weights, *[0.0] * (len(TERM_NAMES) - len(weights))]
    sb = math.sqrt(bc2)
    c = {
        "m_over_d": weights[3] * sb / bc1,
        "g_over_d": weights[2] * sb,
        "m": (weights[1] + (1.0 - NESTEROV_MIX) * weights[6]) / bc1,
        "g": weights[0] + NESTEROV_MIX * weights[6],
        "sign": weights[4],
        "smooth_sign": weights[5],
        "lion": weights[7],
        "sb": sb,
    }
    if weights[8] != 0.0:  # NADAM folds into m / D and g / D
        if beta1 is None:
            raise ValueError("Invalid fast_coefficients: NADAM needs beta1")
        c["m_over_d"] += weights[8] * sb * beta1 / (1.0 - beta1 * (1.0 - bc1))
        c["g_over_d"] += weights[8] * sb * (1.0 - beta1) / bc1
    return c


def rule_update_fast_(
    params, grads, exp_avgs, exp_avg_sqs, lr, decay, beta1, beta2, eps, c, clip=None, maximize=False
):
    """The fast formulation (see the module docstring) on lists of tensors, in place.

    Every scalar is a Python float (one group, one step count): ``lr`` the scheduled rate,
    ``decay`` = 1 - lr wd, ``c`` from :func:`fast_coefficients`, ``clip`` None for no
    clipping. The moments are updated exactly as torch.optim.AdamW's (``lerp_``,
    ``mul_`` + ``addcmul_``). Temporaries: the shared denominator D (when RMS_NORM or
    ADAM_TERM or NADAM is active), g when clipping/maximizing, sign(g) for SIGN_GRAD, |g| + eps for
    SQRT_GRAD, LION's direction, and the sum of the terms when there are several (unless it
    can be a temporary of these).
    """
    if not params:
        return
    g = grads
    if maximize:
        g = torch._foreach_neg(g)
    if clip is not None:
        if g is grads:
            g = torch._foreach_clamp_min(g, -clip)
        else:
            torch._foreach_clamp_min_(g, -clip)
        torch._foreach_clamp_max_(g, clip)
    if decay != 1.0:
        torch._foreach_mul_(params, decay)
    lion = _lion_direction(exp_avgs, g) if c.get("lion", 0.0) != 0.0 else None
    torch._foreach_lerp_(exp_avgs, g, 1.0 - beta1)
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, g, g, 1.0 - beta2)
    terms = []  # (coefficient, x, y, x is a temporary of ours): the step adds -lr c x (/ y)
    # g is our own copy (clipped/negated/cast) and only used linearly: the sum is built in it,
    # g first and g / D right after it (an element-wise op reads each g before writing it)
    in_g = g is not grads and c["g"] != 0.0 and c["sign"] == 0.0 and c["smooth_sign"] == 0.0
    if in_g:
        terms.append((c["g"], g, None, True))
    if c["m"] != 0.0:
        terms.append((c["m"], exp_avgs, None, False))
    if c["g"] != 0.0 and not in_g:
        terms.append((c["g"], g, None, False))
    if c["sign"] != 0.0:
        terms.append((c["sign"], torch._foreach_sign(g), None, True))
    if lion is not None:
        terms.append((c["lion"], lion, None, True))
        del lion
    if c["m_over_d"] != 0.0 or c["g_over_d"] != 0.0:
        denom = torch._foreach_sqrt(exp_avg_sqs)
        torch._foreach_add_(denom, eps * c["sb"])
        for key, x in (("m_over_d", exp_avgs), ("g_over_d", g)):
            if c[key] != 0.0:
                terms.insert(1 if in_g and key == "g_over_d" else len(terms), (c[key], x, denom, False))
        del denom
    if c["smooth_sign"] != 0.0:
        smooth = torch._foreach_abs(g)
        torch._foreach_add_(smooth, eps)
        terms.append((c["smooth_sign"], g, smooth, False))
        del smooth
    _apply_terms_(params, terms, lr)


def _apply_terms_(params, terms, lr):
    """p <- p - lr sum_i c_i x_i (/ y_i), rounding p once: a single term is fused into p
    (``add_`` / ``addcdiv_``); several are summed into one buffer (the first term's own
    temporary when it has one) in units of the first coefficient c0, then added to p with
    -lr c0. When a ratio c / c0 would exceed 1e4 the largest term goes first (ratios <= 1)."""
    if not terms:
        return
    if any(abs(c) > 1e4 * abs(terms[0][0]) for c, *_ in terms):  # keep ratios c / c0 far from overflow
        terms = sorted(((c, x, y, False) for c, x, y, _ in terms), key=lambda term: -abs(term[0]))
    c0, x0, y0, owned = terms.pop(0)
    if not terms:
        if y0 is None:
            torch._foreach_add_(params, x0, alpha=-lr * c0)
        else:
            torch._foreach_addcdiv_(params, x0, y0, -lr * c0)
        return
    if y0 is not None:
        delta = torch._foreach_div(x0, y0)
    elif owned:
        delta = x0
    else:  # the first two terms make the buffer in one out-of-place op
        c1, x1, y1, _ = terms.pop(0)
        if y1 is None:
            delta = torch._foreach_add(x0, x1, alpha=c1 / c0)
        else:
            delta = torch._foreach_addcdiv(x0, x1, y1, c1 / c0)
    del x0, y0
    while terms:
        c, x, y, _ = terms.pop(0)
        if y is None:
            torch._foreach_add_(delta, x, alpha=c / c0)
        else:
            torch._foreach_addcdiv_(delta, x, y, c / c0)
        del x, y
    torch._foreach_add_(params, delta, alpha=-lr * c0)


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
    )


def rule_step(param, grad, exp_avg, exp_avg_sq, t, lr, coef):
    """Out-of-place :func:`population_update_` of one tensor: returns ``(param, m, v)``."""
    p, m, v = param.clone(), exp_avg.clone(), exp_avg_sq.clone()
    population_update_([p], [grad], [m], [v], t, lr, coef)
    return p, m, v


def _genome_hyperparameters(genome):
    """A genome's lr, betas (0 for an unused moment), eps and weight decay, as floats."""
    return {
        "lr": 10.0 ** genome["lr_log10"],
        "betas": (genome["beta1"] if genome["use_m"] else 0.0, genome["beta2"] if genome["use_v"] else 0.0),
        "eps": 10.0 ** genome["eps_log10"],
        "weight_decay": 10.0 ** genome["wd_log10"],
    }


CHUNK_ELEMENTS = 1 << 22
"""The fast path runs on chunks of about this many elements (16 MB of float32): temporaries
stay small and reuse the allocator's memory instead of fresh pages every step."""


def _chunks(members):
    """Consecutive runs of (param, state) pairs of at most ~CHUNK_ELEMENTS elements (a
    larger tensor alone)."""
    chunk, size = [], 0
    for member in members:
        n = member[0].numel()
        if chunk and size + n > CHUNK_ELEMENTS:
            yield chunk
            chunk, size = [], 0
        chunk.append(member)
        size += n
    if chunk:
        yield chunk


def _bias_corrections(coef, t):
    """:func:`bias_correction` of beta1 and beta2 at the int step ``t``: ``1 - beta**t``
    through the very ops the operators dispatch to (``pow``, ``rsub``), minus the Python
    operator wrappers (the same numbers)."""
    return torch.rsub(torch.pow(coef["beta1"], t), 1.0), torch.rsub(torch.pow(coef["beta2"], t), 1.0)


def _snapshot(genome):
    """A copy of a genome dict that edits of the original's lists cannot reach (compared
    with ``==`` to tell whether the genome changed)."""
    return {k: type(v)(v) if isinstance(v, (list, tuple)) else v for k, v in genome.items()}


def _plain(value):
    """A Python number (not a tensor, which may change in place unseen)."""
    return isinstance(value, (int, float))


def _pick(value, idx):
    return [value[i] for i in idx] if isinstance(value, list) else value


def _check(name, value, ok):
    if not ok:
        raise ValueError(f"Invalid {name}: {value}")


class RuleOptimizer(torch.optim.Optimizer):
    """A ``torch.optim.Optimizer`` running the rule for a genome dict (seed JSON form).

    Hyperparameters follow torch.optim: ``lr``, ``betas``, ``eps`` and ``weight_decay``
    default to the genome's and live in every param group (torch schedulers read and write
    ``group["lr"]``); the genome's warmup and cosine multiply the group's current lr
    (``schedule="none"`` leaves all scheduling to the user's scheduler). The genome's terms
    and flags are kept per group too (a group may carry its own ``genome``), each group with
    its own copy. ``foreach=None`` (or True) picks the multi-tensor path, in eager mode the
    fast formulation :func:`rule_update_fast_` (fp32/fp64 parameters; it agrees with the exact
    one within rounding); ``foreach=False`` runs the exact :func:`rule_update_` per tensor,
    bit for bit what the workers evaluated (they use it). Under ``torch.compile`` and for
    fp16/bf16 parameters every path runs :func:`rule_update_`. Step counters are
    tensors (``group["step"]`` for the schedule, ``state["step"]`` per parameter for the
    bias correction), so ``torch.compile`` traces ``step()`` without a graph break.

    Per eager step nothing is rebuilt that did not change: a group's coefficients and the
    scalars that do not depend on lr are built once (again when its genome, betas, eps or
    weight decay change), lr and decay once per lr (every step when the genome schedules
    it, or when lr is a tensor), with the same expressions as a per-step build, so the same
    numbers bit for bit (:meth:`_step_scalars`); on the CPU ``foreach=False`` applies
    :func:`rule_update_` to runs of tensors, which on the CPU runs the same single-tensor
    kernels tensor after tensor (:meth:`_exact_buckets`).
    """

    def __init__(
        self,
        params,
        genome,
        lr=None,
        betas=None,
        eps=None,
        weight_decay=None,
        total_steps=1000,
        *,
        foreach=None,
        maximize=False,
        schedule="genome",
    ):
        genome = dict(genome)
        self._coefficients(genome)  # fail early on a malformed genome
        own = _genome_hyperparameters(genome)
        lr = own["lr"] if lr is None else lr
        betas = own["betas"] if betas is None else betas
        eps = own["eps"] if eps is None else eps
        weight_decay = own["weight_decay"] if weight_decay is None else weight_decay
        defaults = {
            "lr": lr,
            "betas": tuple(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "total_steps": total_steps,
            "foreach": foreach,
            "maximize": maximize,
            "schedule": schedule,
            "genome": genome,
        }
        self._validate(defaults)
        super().__init__(params, defaults)

    def _validate(self, group):
        lr, betas, eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if isinstance(lr, torch.Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        _check("learning rate", lr, lr >= 0.0)
        _check("epsilon value", eps, eps >= 0.0)
        _check("beta parameter at index 0", betas[0], 0.0 <= betas[0] < 1.0)
        _check("beta parameter at index 1", betas[1], 0.0 <= betas[1] < 1.0)
        _check("weight_decay value", wd, wd >= 0.0)
        steps = group["total_steps"]
        _check("total_steps", steps, isinstance(steps, int) and not isinstance(steps, bool) and steps >= 1)
        _check("schedule", repr(group["schedule"]), group["schedule"] in ("genome", "none"))

    def add_param_group(self, param_group):
        param_group = dict(param_group)
        genome = param_group.get("genome", self.defaults["genome"])
        self._coefficients(genome)
        if "genome" in param_group:  # the group's own genome supplies its default hyperparameters
            for key, value in _genome_hyperparameters(genome).items():
                param_group.setdefault(key, value)
        param_group["genome"] = dict(genome)  # every group owns its genome: no shared state
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        group["betas"] = tuple(group["betas"])
        self._validate(group)
        group.setdefault("step", torch.tensor(0.0))
        name = type(self).__name__
        for p in group["params"]:
            if torch.is_complex(p):
                raise ValueError(f"{name} does not support complex parameters")
            if p.is_sparse:
                raise ValueError(f"{name} does not support sparse parameters")

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            if not torch.is_tensor(group.get("step")):
                group["step"] = torch.tensor(float(group.get("step", 0)))
        for st in self.state.values():
            if "step" in st and not torch.is_tensor(st["step"]):
                st["step"] = torch.tensor(float(st["step"]))

    def _coefficients(self, genome, dtype=torch.float32):
        """``rule_coefficients(genome, dtype=dtype)`` as a dict of the caller's own, built once
        for the genome last seen per dtype (validating a group's genome and building its plan
        then cost one build, not three per optimizer). The tensors are shared and never
        modified in place."""
        memo = self.__dict__.setdefault("_coefficient_memo", {})
        seen = memo.get(dtype)
        if seen is None or seen[0] != genome:
            seen = memo[dtype] = (_snapshot(genome), rule_coefficients(genome, dtype=dtype))
        return dict(seen[1])

    def _group_coefficients(self, group, dtype=torch.float32, memo=False):
        """The group's genome as coefficients of ``dtype`` (float32 for the exact path, float64
        for the fast path's Python floats), its own lr/betas/eps/wd replacing the genome's (the
        hyperparameters a user or a scheduler may change). ``memo``: through
        :meth:`_coefficients` (eager steps; a traced step builds them)."""
        genome = group["genome"]
        coef = self._coefficients(genome, dtype) if memo else rule_coefficients(genome, dtype=dtype)
        beta1, beta2 = group["betas"]
        coef["beta1"] = torch.as_tensor(beta1, dtype=dtype)
        coef["beta2"] = torch.as_tensor(beta2, dtype=dtype)
        coef["eps"] = torch.as_tensor(group["eps"], dtype=dtype)
        coef["weight_decay"] = torch.as_tensor(group["weight_decay"], dtype=dtype)
        return coef

    def _group_lr(self, group, coef):
        """The group's lr for this step (the genome's schedule applied), in ``coef``'s dtype."""
        lr = torch.as_tensor(group["lr"], dtype=coef["eps"].dtype)
        if group["schedule"] == "genome":
            lr = scheduled_lr(coef, group["step"], group["total_steps"], lr)
        return lr

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        compiling = torch.compiler.is_compiling()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            self._init_group(group, params)
            buckets = {}
            for p in params:
                buckets.setdefault((p.device, p.dtype), []).append(p)
            if buckets:
                self._step_group(group, buckets, compiling)
            group["step"] = group["step"] + 1  # a new tensor: a loaded state_dict is never mutated
        return loss

    def _init_group(self, group, params):
        """Check the parameters and create their missing state (zero moments, step 0)."""
        name = type(self).__name__
        for p in params:
            if p.grad.is_sparse:
                raise RuntimeError(f"{name} does not support sparse gradients")
            if torch.is_complex(p):
                raise RuntimeError(f"{name} does not support complex parameters")
            state = self.state[p]
            moment_dtype = torch.float32 if p.dtype in LOW_PRECISION else p.dtype
            if len(state) == 0:
                state["step"] = torch.tensor(0.0)
                zeros = {"dtype": moment_dtype, "memory_format": torch.preserve_format}
                state["exp_avg"] = torch.zeros_like(p, **zeros)
                state["exp_avg_sq"] = torch.zeros_like(p, **zeros)
            elif state["exp_avg"].dtype != moment_dtype:  # load_state_dict casts to p's dtype
                state["exp_avg"] = state["exp_avg"].to(moment_dtype)
                state["exp_avg_sq"] = state["exp_avg_sq"].to(moment_dtype)

    def _step_group(self, group, buckets, compiling):
        foreach = group["foreach"]
        exact, scalars = {}, {}
        for key, params in buckets.items():
            states = [self.state[p] for p in params]
            torch._foreach_add_([st["step"] for st in states], 1.0)
            fast = (foreach is None or foreach) and not compiling and key[1] not in LOW_PRECISION
            if fast:  # the exact path's scalar dtype: float32, float64 for float64 parameters
                dtype = torch.float64 if key[1] == torch.float64 else torch.float32
                if dtype not in scalars:
                    scalars[dtype] = self._step_scalars(group, dtype, compiling)
                self._fast_bucket(group, scalars[dtype], params, states)
            else:
                exact[key] = (params, states)
        for dtype in (torch.float32, torch.float64):  # float64 parameters get float64 scalars
            chosen = {k: v for k, v in exact.items() if (k[1] == torch.float64) == (dtype == torch.float64)}
            if chosen:
                self._exact_buckets(group, self._step_scalars(group, dtype, compiling), chosen, compiling)

    def _step_scalars(self, group, dtype, compiling):
        """This step's coefficients and :func:`step_scalars` of ``dtype`` for ``group``.

        Returns a dict: ``coef`` (:meth:`_group_coefficients`), ``s`` (:func:`step_scalars` of
        the step's lr) and, for the fast path, ``floats`` (their Python floats, filled lazily).
        Eager steps reuse the group's plan (:meth:`_plan`): the coefficients and every scalar
        but lr and decay are built when the group's genome, betas, eps or weight decay change,
        not per step; lr and decay when the group's lr changes (every step only when the
        genome schedules it, or when lr is a tensor). The very same expressions as a per-step
        build, so the same numbers bit for bit; a genome without warmup and cosine skips
        :func:`scheduled_lr`, which then multiplies the rate by 1.0 twice (exact).
        """
        plan = None if compiling else self._plan(group, dtype)
        if plan is None:  # torch.compile traces the per-step build (no Python-side cache)
            coef = self._group_coefficients(group, dtype)
            return {"coef": coef, "s": step_scalars(coef, self._group_lr(group, coef)), "floats": None}
        coef, base = plan["coef"], group["lr"]
        scheduled = group["schedule"] == "genome" and plan["scheduled"]
        reusable = _plain(base) and not scheduled  # this lr stays this step's rate
        if reusable and plan["current"] is not None and plan["current_lr"] == base:
            return plan["current"]
        lr = torch.as_tensor(base, dtype=dtype)
        if scheduled:
            lr = scheduled_lr(coef, group["step"], group["total_steps"], lr)
        current = {
            "coef": coef,
            "s": {**plan["static"], "lr": lr, "decay": 1.0 - lr * coef["weight_decay"]},
            "floats": None,
        }
        plan["current"], plan["current_lr"] = (current, base) if reusable else (None, None)
        return current

    def _plan(self, group, dtype):
        """The group's cached coefficients for ``dtype`` (rebuilt when its genome, betas, eps
        or weight decay differ from those they were built from); None when one of these is
        a tensor (a tensor may change in place unseen: built per step then)."""
        beta1, beta2 = group["betas"]
        hyper = (beta1, beta2, group["eps"], group["weight_decay"])
        if not (_plain(hyper[0]) and _plain(hyper[1]) and _plain(hyper[2]) and _plain(hyper[3])):
            return None
        plans = self.__dict__.setdefault("_plans", {})
        plan = plans.get((id(group), dtype))
        if plan and plan["group"] is group and plan["hyper"] == hyper and plan["genome"] == group["genome"]:
            return plan
        live = {id(g) for g in self.param_groups}  # groups a loaded state_dict replaced: dropped
        for key in [key for key in plans if key[0] not in live]:
            del plans[key]
        coef = self._group_coefficients(group, dtype, memo=True)
        static = step_scalars(coef, torch.ones((), dtype=dtype))
        del static["lr"], static["decay"]  # the only lr-dependent scalars: rebuilt with the lr
        genome = group["genome"]
        plan = {
            "group": group,
            "hyper": hyper,
            "genome": _snapshot(genome),
            "coef": coef,
            "static": static,
            "scheduled": bool(genome["use_warmup"]) or bool(genome["use_cosine_decay"]),
            "current": None,
            "current_lr": None,
        }
        plans[(id(group), dtype)] = plan
        return plan

    def _fast_bucket(self, group, scalars, params, states):
        """The eager multi-tensor path: :func:`rule_update_fast_` with Python-float
        coefficients computed once per step count (one count per bucket, as a rule)."""
        flags = group["genome"]
        if scalars["floats"] is None:  # once per lr (the scalars are cached with it)
            coef, lr = scalars["coef"], scalars["s"]["lr"].item()
            scalars["floats"] = (
                lr,
                (1.0 - lr * coef["weight_decay"]).item(),
                coef["beta1"].item(),
                coef["beta2"].item(),
                coef["eps"].item(),
                coef["weights"].tolist(),
                coef["clip"].item(),
            )
        lr, decay, beta1, beta2, eps, weights, clip = scalars["floats"]
        clip = clip if flags["use_gradient_clipping"] else None
        by_count = {}
        for p, st in zip(params, states, strict=True):
            by_count.setdefault(int(st["step"].item()), []).append((p, st))
        for t, all_members in by_count.items():
            bc1, bc2 = (1.0 - beta1**t, 1.0 - beta2**t) if flags["use_bias_correction"] else (1.0, 1.0)
            for members in _chunks(all_members):
                rule_update_fast_(
                    [p for p, _ in members],
                    [p.grad for p, _ in members],
                    [st["exp_avg"] for _, st in members],
                    [st["exp_avg_sq"] for _, st in members],
                    lr,
                    decay,
                    beta1,
                    beta2,
                    eps,
                    fast_coefficients(weights, bc1, bc2, beta1),
                    clip,
                    group["maximize"],
                )

    def _exact_buckets(self, group, scalars, buckets, compiling):
        """The exact formulation, :func:`rule_update_` (per tensor, or per bucket with
        ``foreach=True`` under ``torch.compile`` and for fp16/bf16 parameters).

        With ``foreach=False`` on the CPU, eager, the tensors go in runs of at most
        ~CHUNK_ELEMENTS elements: a CPU ``_foreach_*`` op applies the single-tensor op to
        each tensor in turn (the same kernel, the same numbers as one tensor at a time), so
        only the Python overhead and the temporaries' size change (one chunk's, not one
        tensor's)."""
        coef, s = scalars["coef"], scalars["s"]
        flags = group["genome"]
        bias = bool(flags["use_bias_correction"])
        clipping = bool(flags["use_gradient_clipping"])
        terms = coef["active_terms"]
        foreach = group["foreach"]
        for (device, _), (params, states) in buckets.items():
            multi = foreach is None or bool(foreach)
            steps = [st["step"] for st in states]
            bc1 = bc2 = None
            if bias and compiling:  # tensor powers: no host sync, no graph break
                t = torch.stack(steps)
                bc1 = list(bias_correction(coef["beta1"], t).unbind())
                bc2 = list(bias_correction(coef["beta2"], t).unbind())
            elif bias:  # torch.optim's eager way: host step counts (CPU tensors), int powers
                counts = [int(t.item()) for t in steps]
                cache = {k: _bias_corrections(coef, k) for k in set(counts)}
                if len(cache) == 1:  # the usual case: one scalar for the whole bucket
                    bc1, bc2 = cache[counts[0]]
                else:
                    bc1 = [cache[k][0] for k in counts]
                    bc2 = [cache[k][1] for k in counts]
            if multi:
                chunks = [list(range(len(params)))]
            elif device.type == "cpu" and not compiling:
                chunks = [[i for _, i in run] for run in _chunks([(p, i) for i, p in enumerate(params)])]
            else:
                chunks = [[i] for i in range(len(params))]
            for idx in chunks:
                rule_update_(
                    [params[i] for i in idx],
                    [params[i].grad for i in idx],
                    [states[i]["exp_avg"] for i in idx],
                    [states[i]["exp_avg_sq"] for i in idx],
                    s,
                    _pick(bc1, idx),
                    _pick(bc2, idx),
                    terms,
                    clipping,
                    group["maximize"],
                    coef["unit_terms"],
                )
