"""The rule's parts (the maths: :mod:`optimizers.rule`): its coefficients and per-step
scalars, and the terms that read more than one element.

:func:`rule_coefficients` turns genome dicts into tensors (one genome: shape ``[]``; a
population: ``[P]``), :func:`scheduled_lr` applies the warmup/cosine schedule,
:func:`bias_correction` gives ``1 - beta^t`` and :func:`step_scalars` the scalars one step
shares across tensors.

ORTHO on a matrix (a 2-D parameter; ``[P, A, B]`` when a population stacks P of them):
Newton-Schulz with ``torch.optim.Muon``'s coefficients, step count, norm clamp and bfloat16
arithmetic, scaled by ``0.2 sqrt(max(A, B))`` (Muon's ``adjust_lr_fn="match_rms_adamw"``); on
every other tensor ORTHO is the ADAM_TERM. The trust ratio is per tensor (per member and
tensor in a population). LION's direction and NADAM's coefficients live here too.

Imports only ``torch`` and ``math``: :mod:`optimizers.export` copies this source into every
exported file.
"""

import math

import torch

TERM_NAMES = (  # 0..6 the seed's terms; 7 and 8 the extended set's; 9 the scaled set's
    "GRAD", "MOMENTUM", "RMS_NORM", "ADAM_TERM", "SIGN_GRAD", "SQRT_GRAD", "NESTEROV", "LION", "NADAM",
    "ORTHO",
)
ORTHO = 9
"""Index of the orthogonalised-momentum term (:func:`ortho_terms`)."""


def rule_coefficients(genomes, device=None, dtype=torch.float32):
    """Tensors of the rule's coefficients from genome dicts in the seed's JSON form.

    Args:
        genomes: one dict (coefficients of shape ``[]``) or a list of P dicts (shape ``[P]``).
    Returns:
        dict of tensors: weights ``[..., 7]``, lr, beta1, beta2, eps, weight_decay, clip,
        bias_correction, use_warmup, warmup_steps, use_cosine_decay, trust_ratio; plus
        ``active_terms`` (terms with a non-zero weight in some member), ``unit_terms`` (weight
        exactly 1 in every member), ``clipping`` (some member clips) and ``trusting`` (some
        member applies the trust ratio).
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
            "trust_ratio",
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
        columns["trust_ratio"].append(bool(row.get("use_trust_ratio", False)))
    out = {}
    for key, values in columns.items():
        kind = torch.bool if isinstance(values[0], bool) else dtype
        tensor = torch.tensor(values, dtype=kind, device=device)
        out[key] = tensor[0] if single else tensor
    out["active_terms"] = tuple(
        j for j in range(len(TERM_NAMES)) if any(row[j] != 0.0 for row in columns["weights"])
    )
    out["clipping"] = any(math.isfinite(c) for c in columns["clip"])
    out["trusting"] = any(columns["trust_ratio"])
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


def decay_factor(coef, lr):
    """The factor p is multiplied by before the terms: 1 - lr wd; 1 for a member with the trust
    ratio, whose decay is part of the trust-scaled update (:func:`trust_decay`)."""
    if not coef.get("trusting", False):
        return 1.0 - lr * coef["weight_decay"]
    return 1.0 - lr * torch.where(coef["trust_ratio"], 0.0, coef["weight_decay"])


def trust_decay(coef):
    """The weight decay inside the trust-scaled update: wd with the trust ratio, else 0."""
    return torch.where(coef["trust_ratio"], coef["weight_decay"], 0.0)


def step_scalars(coef, lr):
    """The step's scalars shared by every tensor: decay factor (:func:`decay_factor`), betas and
    their complements, eps, the term weights (one tensor per term), the lr itself and, when some
    member applies the trust ratio, the decay inside the update (``trust_decay``)."""
    out = {
        "lr": lr,
        "decay": decay_factor(coef, lr),
        "beta1": coef["beta1"],
        "one_minus_beta1": 1.0 - coef["beta1"],
        "beta2": coef["beta2"],
        "one_minus_beta2": 1.0 - coef["beta2"],
        "eps": coef["eps"],
        "clip": coef["clip"],
        "weights": [coef["weights"][..., j] for j in range(len(TERM_NAMES))],
    }
    if coef.get("trusting", False):
        out["trust_decay"] = trust_decay(coef)
        out["trust"] = coef["trust_ratio"]
    return out


NESTEROV_MIX = 0.9
LION_MIX = 0.9
"""LION's interpolation: sign(LION_MIX m_prev + (1 - LION_MIX) g) (Lion's default beta1)."""
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
NS_STEPS = 5
NS_EPS = 1e-7
"""Newton-Schulz quintic coefficients (a, b, c), iterations and norm clamp: torch.optim.Muon's."""
RMS_MATCH = 0.2
"""ORTHO's scale 0.2 sqrt(max(A, B)): an orthogonal A x B update then has about AdamW's RMS."""
TRUST_CLAMP = 10.0
"""The trust ratio's phi(||p||) = min(||p||, TRUST_CLAMP) (LAMB's upper bound gamma_u)."""


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
    triples = zip(_listed(beta1, n), _listed(one_minus, n), _listed(bc1, n), strict=True)
    pairs = [(b / (1.0 - b * (1.0 - c)), o / c) for b, o, c in triples]
    return [m for m, _ in pairs], [g for _, g in pairs]


def _listed(value, n):
    return value if isinstance(value, list) else [value] * n


def is_matrix(tensor, stacked=False):
    """A 2-D parameter (``[P, A, B]`` when ``stacked``): the tensors ORTHO orthogonalises."""
    return tensor.dim() - int(stacked) == 2


def orthogonalised(x):
    """Newton-Schulz zeroth power of each matrix of ``x`` (``[A, B]`` or ``[P, A, B]``), in
    bfloat16 as torch.optim.Muon: X = x / max(||x||_F, NS_EPS) (transposed when A > B), then
    NS_STEPS times X <- a X + (b G + c G^2) X with G = X X^T. Returns bfloat16, x's shape.
    One matrix runs torch's own 2-D products (``addmm``), a stack of them the batched ones."""
    a, b, c = NS_COEFFICIENTS
    X = x.bfloat16()
    tall = x.shape[-2] > x.shape[-1]
    if tall:
        X = X.mT
    X = X / torch.linalg.vector_norm(X, dim=(-2, -1), keepdim=True).clamp(min=NS_EPS)
    if X.dim() == 2:
        for _ in range(NS_STEPS):
            gram = X @ X.T
            X = torch.addmm(X, torch.addmm(gram, gram, gram, beta=b, alpha=c), X, beta=a)
    else:
        X = X.reshape(-1, *X.shape[-2:])
        for _ in range(NS_STEPS):
            gram = X @ X.mT
            X = torch.baddbmm(X, torch.baddbmm(gram, gram, gram, beta=b, alpha=c), X, beta=a)
    if tall:
        X = X.mT
    return X.reshape(x.shape)


def ortho_matrix_term(g, exp_avg, beta1):
    """ORTHO on one matrix: 0.2 sqrt(max(A, B)) NS(beta1 m + (1 - beta1) g) with m this step's
    raw first moment (Muon's Nesterov look-ahead ``g.lerp(m, beta1)``), in m's dtype."""
    rows, cols = g.shape[-2:]
    look_ahead = torch.lerp(g, exp_avg, beta1)
    return orthogonalised(look_ahead).to(exp_avg.dtype).mul_(RMS_MATCH * math.sqrt(max(rows, cols)))


def ortho_terms(g, exp_avgs, m_hat, denom, beta1, stacked=False):
    """ORTHO on a list of tensors (a new list): :func:`ortho_matrix_term` on matrices, the
    ADAM_TERM m_hat / denom (denom = sqrt(v_hat) + eps) on the others; ``beta1`` a scalar or a
    list per tensor."""
    betas = _listed(beta1, len(g))
    return [
        ortho_matrix_term(gi, mi, bi) if is_matrix(gi, stacked) else torch.div(hi, di)
        for gi, mi, hi, di, bi in zip(g, exp_avgs, m_hat, denom, betas, strict=True)
    ]


def trust_ratios(params, updates, stacked=False, enabled=None):
    """LAMB's per-tensor ratio r = min(||p||, TRUST_CLAMP) / ||u|| (r = 1 where ||p|| = 0 or
    ||u|| = 0, so zero-initialised tensors still move), one per tensor (``[P, 1, ...]`` per
    member when ``stacked``); ``enabled`` (per tensor, like the scalars) puts r = 1 where False."""
    ratios = []
    for i, (p, u) in enumerate(zip(params, updates, strict=True)):
        if stacked and p.dim() == 1:  # one number per member: its norm is |x|
            p_norm, u_norm = p.abs().to(u.dtype), u.abs()
        else:
            dims = tuple(range(1, p.dim())) if stacked else None
            p_norm = torch.linalg.vector_norm(p, dim=dims, keepdim=stacked, dtype=u.dtype)
            u_norm = torch.linalg.vector_norm(u, dim=dims, keepdim=stacked)
        ratio = torch.where((p_norm > 0) & (u_norm > 0), p_norm.clamp(max=TRUST_CLAMP) / u_norm, 1.0)
        if enabled is not None:
            ratio = torch.where(_listed(enabled, len(params))[i], ratio, 1.0)
        ratios.append(ratio)
    return ratios
