"""The rule's terms that read more than one element: LION's and NADAM's helpers, Muon's
orthogonalised momentum (ORTHO) and LAMB's trust ratio (the maths: :mod:`optimizers.rule`).

ORTHO on a matrix (a 2-D parameter; ``[P, A, B]`` when a population stacks P of them):
Newton-Schulz with ``torch.optim.Muon``'s coefficients, step count, norm clamp and bfloat16
arithmetic, as batched matrix products, scaled by ``0.2 sqrt(max(A, B))`` (Muon's
``adjust_lr_fn="match_rms_adamw"``). On every other tensor ORTHO is the ADAM_TERM.
The trust ratio is per tensor (per member and tensor in a population).
Imports only ``torch`` and ``math``: :mod:`optimizers.export` copies this source into every
exported file.
"""

import math

import torch

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


def ortho_terms(g, exp_avgs, adam, beta1, stacked=False):
    """ORTHO on a list of tensors: :func:`ortho_matrix_term` on matrices, ``adam`` (the
    ADAM_TERM's list, m_hat / (sqrt(v_hat) + eps)) on the others; ``beta1`` a scalar or a
    list per tensor. Returns a new list (``adam``'s tensors reused where kept)."""
    betas = _listed(beta1, len(g))
    return [
        ortho_matrix_term(gi, mi, bi) if is_matrix(gi, stacked) else ai
        for gi, mi, ai, bi in zip(g, exp_avgs, adam, betas, strict=True)
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
