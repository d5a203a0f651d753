"""The rule's coefficients and per-step scalars (the maths: :mod:`optimizers.rule`).

:func:`rule_coefficients` turns genome dicts into tensors (one genome: shape ``[]``; a
population: ``[P]``), :func:`scheduled_lr` applies the warmup/cosine schedule,
:func:`bias_correction` gives ``1 - beta^t`` and :func:`step_scalars` the scalars one step
shares across tensors. Imports only ``torch`` and ``math``: :mod:`optimizers.export` copies
this source into every exported file.
"""

import math

import torch

TERM_NAMES = (  # 0..6 the seed's terms; 7 and 8 the extended set's; 9 the scaled set's
    "GRAD", "MOMENTUM", "RMS_NORM", "ADAM_TERM", "SIGN_GRAD", "SQRT_GRAD", "NESTEROV", "LION", "NADAM",
    "ORTHO",
)
ORTHO = 9
"""Index of the orthogonalised-momentum term (:mod:`optimizers.rule_terms`)."""


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
