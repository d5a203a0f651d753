"""The rule's fast formulation: the eager multi-tensor path of :class:`RuleOptimizer`.

The maths (and how it folds the bias corrections and term weights into Python-float
coefficients) is in :mod:`optimizers.rule`'s docstring. Imports only ``torch``, ``math`` and
:mod:`optimizers.rule`: :mod:`optimizers.export` copies this source into every exported file.
"""

import math

import torch

from optimizers.rule_parts import (
    NESTEROV_MIX,
    ORTHO,
    TERM_NAMES,
    _lion_direction,
    is_matrix,
    ortho_matrix_term,
    trust_ratios,
)

CHUNK_ELEMENTS = 1 << 22
"""The fast path runs on chunks of about this many elements (16 MB of float32): temporaries
stay small and reuse the allocator's memory instead of fresh pages every step."""


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
        "ortho": weights[ORTHO],
        "sb": sb,
    }
    if weights[8] != 0.0:  # NADAM folds into m / D and g / D
        if beta1 is None:
            raise ValueError("Invalid fast_coefficients: NADAM needs beta1")
        c["m_over_d"] += weights[8] * sb * beta1 / (1.0 - beta1 * (1.0 - bc1))
        c["g_over_d"] += weights[8] * sb * (1.0 - beta1) / bc1
    return c


def rule_update_fast_(
    params, grads, exp_avgs, exp_avg_sqs, lr, decay, beta1, beta2, eps, c, clip=None, maximize=False,
    trust_decay=None,
):  # fmt: skip
    """The fast formulation (see the module docstring) on lists of tensors, in place.

    Every scalar is a Python float (one group, one step count): ``lr`` the scheduled rate,
    ``decay`` = 1 - lr wd, ``c`` from :func:`fast_coefficients`, ``clip`` None for no
    clipping, ``trust_decay`` the wd inside the trust-scaled update (None: no trust ratio;
    ``decay`` is then 1). Every tensor is a matrix when ``c["ortho"]`` is not 0.
    The moments are updated exactly as torch.optim.AdamW's (``lerp_``,
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
    if c.get("ortho", 0.0) != 0.0:
        ortho = [ortho_matrix_term(gi, mi, beta1) for gi, mi in zip(g, exp_avgs, strict=True)]
        terms.append((c["ortho"], ortho, None, True))
        del ortho
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
    if trust_decay is None:
        _apply_terms_(params, terms, lr)
        return
    update = torch._foreach_mul(params, trust_decay)  # u = wd p + sum_i c_i x_i (/ y_i)
    for coefficient, x, y, _ in terms:
        if y is None:
            torch._foreach_add_(update, x, alpha=coefficient)
        else:
            torch._foreach_addcdiv_(update, x, y, coefficient)
    del terms
    torch._foreach_mul_(update, trust_ratios(params, update))
    torch._foreach_add_(params, update, alpha=-lr)


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


def element_chunks(members):
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


def fast_bucket_(group, scalars, params, states):
    """The eager multi-tensor path of a param group's bucket: :func:`rule_update_fast_` with
    Python-float coefficients computed once per step count (one count per bucket, as a rule).
    With ORTHO, matrices and the other tensors go in separate calls (ORTHO is the ADAM_TERM on
    the others: its weight joins the ADAM_TERM's)."""
    flags = group["genome"]
    trusting = bool(flags.get("use_trust_ratio", False))
    if scalars["floats"] is None:  # once per lr (the scalars are cached with it)
        coef, lr = scalars["coef"], scalars["s"]["lr"].item()
        scalars["floats"] = (
            lr,
            1.0 if trusting else (1.0 - lr * coef["weight_decay"]).item(),
            coef["beta1"].item(),
            coef["beta2"].item(),
            coef["eps"].item(),
            coef["weights"].tolist(),
            coef["clip"].item(),
            coef["weight_decay"].item() if trusting else None,
        )
    lr, decay, beta1, beta2, eps, weights, clip, trust_decay = scalars["floats"]
    clip = clip if flags["use_gradient_clipping"] else None
    by_kind = {}  # (step count, is a matrix ORTHO orthogonalises) -> members
    for p, st in zip(params, states, strict=True):
        matrix = weights[ORTHO] != 0.0 and is_matrix(p)
        by_kind.setdefault((int(st["step"].item()), matrix), []).append((p, st))
    for (t, matrix), all_members in by_kind.items():
        bc1, bc2 = (1.0 - beta1**t, 1.0 - beta2**t) if flags["use_bias_correction"] else (1.0, 1.0)
        own = list(weights)
        if not matrix and own[ORTHO] != 0.0:
            own[3], own[ORTHO] = own[3] + own[ORTHO], 0.0
        for members in element_chunks(all_members):
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
                fast_coefficients(own, bc1, bc2, beta1),
                clip,
                group["maximize"],
                trust_decay,
            )
