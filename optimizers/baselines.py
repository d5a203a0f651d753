"""The seed's baseline optimizers written as genomes (exact seed hyperparameters).

Unspecified fields keep the Genome defaults, so every baseline but AdamW carries the
seed's decoupled weight decay of 1e-4 (``wd_log10 = -4``).
"""

from __future__ import annotations

from optimizers.genome import Genome, Term

SGD_MOMENTUM = Genome(
    term_types=(Term.MOMENTUM,), alphas=(1.0,), lr_log10=-2.0, beta1=0.9,
    use_v=False, use_bias_correction=False,
)
"""m is an EMA (dampened momentum): equals heavy-ball momentum 0.9 at lr 1e-3, plus wd 1e-4."""

ADAM = Genome(term_types=(Term.ADAM_TERM,), alphas=(1.0,), lr_log10=-3.0, beta1=0.9, beta2=0.999)
"""Adam with decoupled weight decay 1e-4: ``torch.optim.AdamW(lr=1e-3, weight_decay=1e-4)``."""

ADAMW = ADAM.model_copy(update={"wd_log10": -2.0})
"""The seed's AdamW: Adam with decoupled weight decay 1e-2."""

RMSPROP = Genome(
    term_types=(Term.RMS_NORM,), alphas=(1.0,), lr_log10=-3.0, beta2=0.99,
    use_m=False, use_bias_correction=False,
)
"""RMSProp (alpha 0.99) plus wd 1e-4; without bias correction the first steps are ~10 sign(g)."""

EVO_SEED_BEST = Genome(
    term_types=(Term.SIGN_GRAD, Term.SIGN_GRAD, Term.ADAM_TERM, Term.ADAM_TERM),
    alphas=(0.41206, 0.32239, 2.00300, 1.63220),
    lr_log10=-2.91989, beta1=0.85530, beta2=0.93576, eps_log10=-8.26424, wd_log10=-3.01122,
    use_m=True, use_v=True, use_bias_correction=False, use_gradient_clipping=False,
    use_warmup=True, warmup_steps=100, use_cosine_decay=True,
)
"""The seed's published evolved genome (README version, schedule included):
0.7345 sign(g) + 3.6352 m / (sqrt(v) + eps) on raw moments, warmup 100 then cosine."""

MUON = Genome(
    term_types=(Term.ORTHO,), alphas=(1.0,), lr_log10=-3.0, beta1=0.95, beta2=0.999, wd_log10=-1.0,
)
"""Muon: on 2-D parameters ``torch.optim.Muon(lr=1e-3, weight_decay=0.1, momentum=0.95,
nesterov=True, adjust_lr_fn="match_rms_adamw")``; on the others Adam (betas 0.95, 0.999, eps
1e-8, bias correction) with the same lr and decoupled decay."""

LAMB = Genome(
    term_types=(Term.ADAM_TERM,), alphas=(1.0,), lr_log10=-3.0, beta1=0.9, beta2=0.999, eps_log10=-6.0,
    wd_log10=-2.0, use_trust_ratio=True,
)
"""LAMB (You et al. 2019, Algorithm 2): u = m_hat / (sqrt(v_hat) + 1e-6) + 0.01 p,
p <- p - 1e-3 min(||p||, 10) / ||u|| u per tensor (ratio 1 where a norm is 0)."""

BASELINE_GENOMES: dict[str, Genome] = {
    "sgd_momentum": SGD_MOMENTUM,
    "adam": ADAM,
    "adamw": ADAMW,
    "rmsprop": RMSPROP,
}
"""The four genomes the seed puts in every initial population."""
