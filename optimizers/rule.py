"""The genome update rule, defined once.

This module imports only ``torch`` and ``math``: :mod:`optimizers.export` copies its source
verbatim into every exported optimizer file, so the per-model optimizer
(:class:`RuleOptimizer`, base of ``GenomeOptimizer``), the population update used by the
workers (:func:`rule_step` on stacked parameters) and the exported file run the same code.

Per parameter, with global step k (0-based) and per-parameter step t (1-based):

.. math::

    \\eta_k &= \\eta \\cdot w(k) \\cdot c(k), \\quad
        w(k) = \\min(1, (k+1)/W) \\text{ if warmup}, \\quad
        c(k) = \\tfrac12 (1 + \\cos(\\pi k / K)) \\text{ if cosine} \\\\
    g &= \\mathrm{clamp}(\\nabla, -c, c) \\text{ if clipping} \\\\
    p &\\leftarrow p (1 - \\eta_k \\lambda) \\\\
    m &\\leftarrow \\beta_1 m + (1-\\beta_1) g \\quad (m = g \\text{ without use\\_m}) \\\\
    v &\\leftarrow \\beta_2 v + (1-\\beta_2) g^2 \\quad (v = g^2 \\text{ without use\\_v}) \\\\
    \\hat m &= m / (1-\\beta_1^t), \\; \\hat v = v / (1-\\beta_2^t) \\text{ with bias correction} \\\\
    p &\\leftarrow p - \\eta_k \\sum_j \\alpha_j T_j(g, \\hat m, \\hat v)

``use_m=False`` is computed as beta1 = 0 (then m = g exactly and its bias correction is 1),
likewise ``use_v=False`` as beta2 = 0. Every coefficient is a tensor of shape ``[]`` (one
genome) or ``[P]`` (a population whose parameters carry a leading ``[P]`` axis).
"""

import math

import torch

TERM_NAMES = ("GRAD", "MOMENTUM", "RMS_NORM", "ADAM_TERM", "SIGN_GRAD", "SQRT_GRAD", "NESTEROV")
NESTEROV_MIX = 0.9


def term_direction(term, g, m_hat, v_hat, eps):
    """Direction of primitive term ``term`` (index into TERM_NAMES)."""
    if term == 0:  # GRAD
        return g
    if term == 1:  # MOMENTUM
        return m_hat
    if term == 2:  # RMS_NORM
        return g / (v_hat.sqrt() + eps)
    if term == 3:  # ADAM_TERM
        return m_hat / (v_hat.sqrt() + eps)
    if term == 4:  # SIGN_GRAD
        return g.sign()
    if term == 5:  # SQRT_GRAD: a smoothed sign, despite the seed's name
        return g / (g.abs() + eps)
    if term == 6:  # NESTEROV, with the seed's fixed 0.9
        return m_hat + NESTEROV_MIX * (g - m_hat)
    raise ValueError(f"Invalid term: {term}")


def rule_coefficients(genomes, device=None, dtype=torch.float32):
    """Tensors of the rule's coefficients from genome dicts in the seed's JSON form.

    Args:
        genomes: one dict (coefficients of shape ``[]``) or a list of P dicts (shape ``[P]``).
    Returns:
        dict of tensors: weights ``[..., 7]``, lr, beta1, beta2, eps, weight_decay, clip,
        bias_correction, use_warmup, warmup_steps, use_cosine_decay.
    """
    single = isinstance(genomes, dict)
    rows = [genomes] if single else list(genomes)
    if not rows:
        raise ValueError("Invalid genomes: empty population")
    columns = {key: [] for key in (
        "weights", "lr", "beta1", "beta2", "eps", "weight_decay", "clip",
        "bias_correction", "use_warmup", "warmup_steps", "use_cosine_decay",
    )}
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
        j for j in range(len(TERM_NAMES)) if bool((out["weights"][..., j] != 0).any())
    )
    return out


def scheduled_lr(coef, step, total_steps):
    """Learning rate at 0-based global ``step``: base lr x warmup x cosine (as the seed).

    Warmup multiplies by (step + 1) / warmup_steps while step < warmup_steps; cosine
    multiplies by 0.5 (1 + cos(pi step / total_steps)) from step 0 (not after warmup) with no
    clamp past total_steps. Both multiply together. Shape: that of ``coef["lr"]``.
    """
    lr = coef["lr"]
    warm = torch.where(
        coef["use_warmup"] & (step < coef["warmup_steps"]), (step + 1) / coef["warmup_steps"], 1.0
    )
    cosine = 0.5 * (1.0 + math.cos(math.pi * step / total_steps))
    decay = torch.where(coef["use_cosine_decay"], torch.full_like(lr, cosine), 1.0)
    return lr * warm * decay


def _per_member(c, like):
    """View a coefficient of shape [P] as [P, 1, ..., 1] to broadcast over ``like``."""
    if c.dim() == 0:
        return c
    return c.view(c.shape[0], *([1] * (like.dim() - 1)))


def rule_step(param, grad, exp_avg, exp_avg_sq, t, lr, coef):
    """One update of one (possibly population-stacked) parameter; returns new tensors.

    Args:
        param, grad, exp_avg, exp_avg_sq: tensors of one shape (``[P, ...]`` for a population).
        t: this parameter's step count after increment (1-based int).
        lr: scheduled learning rate, shape ``[]`` or ``[P]`` (see :func:`scheduled_lr`).
        coef: output of :func:`rule_coefficients`.
    Returns:
        ``(param, exp_avg, exp_avg_sq)`` after the step.
    """
    def member(name):
        return _per_member(coef[name], param)

    lr_ = _per_member(lr, param)
    clip = member("clip")
    g = torch.clamp(grad, -clip, clip)
    p = param * (1.0 - lr_ * member("weight_decay"))
    b1, b2 = member("beta1"), member("beta2")
    m = b1 * exp_avg + (1.0 - b1) * g
    v = b2 * exp_avg_sq + (1.0 - b2) * g * g
    bias = member("bias_correction")
    m_hat = m / torch.where(bias, 1.0 - b1**t, 1.0)
    v_hat = v / torch.where(bias, 1.0 - b2**t, 1.0)
    eps = member("eps")
    weights = coef["weights"]
    delta = torch.zeros_like(p)
    for j in coef["active_terms"]:
        delta = delta + _per_member(weights[..., j], param) * term_direction(j, g, m_hat, v_hat, eps)
    return p - lr_ * delta, m, v


class RuleOptimizer(torch.optim.Optimizer):
    """A ``torch.optim.Optimizer`` running :func:`rule_step` for a genome dict.

    Param groups may carry their own ``genome``; the optimizer-global step used by the
    schedule is kept per group (``group["step"]``) so that ``state_dict`` round-trips it.
    Like torch.optim, ``step`` never zeroes gradients.
    """

    def __init__(self, params, genome, total_steps=1000):
        if not isinstance(total_steps, int) or isinstance(total_steps, bool) or total_steps < 1:
            raise ValueError(f"Invalid total_steps: {total_steps}")
        rule_coefficients(genome)  # fail early on a malformed genome
        super().__init__(params, {"genome": dict(genome), "total_steps": total_steps, "step": 0})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            coefs = {}
            lrs = {}
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("RuleOptimizer does not support sparse gradients")
                key = (p.device, p.dtype)
                if key not in coefs:
                    coefs[key] = rule_coefficients(group["genome"], p.device, p.dtype)
                    lrs[key] = scheduled_lr(coefs[key], group["step"], group["total_steps"])
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                new_p, m, v = rule_step(
                    p, p.grad, state["exp_avg"], state["exp_avg_sq"], state["step"], lrs[key], coefs[key]
                )
                p.copy_(new_p)
                state["exp_avg"].copy_(m)
                state["exp_avg_sq"].copy_(v)
            group["step"] += 1
        return loss
