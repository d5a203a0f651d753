"""A genome's update rule as MathML (for the HTML report), built from its canonical terms.

The rule of :mod:`optimizers.rule` with the genome's numbers filled in:

.. math::

    p \\leftarrow p - \\eta_k \\sum_j \\alpha_j T_j(g, \\hat m, \\hat v), \\quad
    m \\leftarrow \\beta_1 m + (1-\\beta_1) g, \\quad v \\leftarrow \\beta_2 v + (1-\\beta_2) g^2

with ``m`` / ``v`` replaced by ``g`` / ``g^2`` when the genome does not keep them, hats only
with bias correction, and the schedule, clipping and decoupled decay written out in words. The
extended terms are written out: LION as sign(0.9 m_prev + 0.1 g) (the raw m before the step's
update), NADAM with its own bias corrections 1 - beta1^(t+1) of m and 1 - beta1^t of g.
"""

from __future__ import annotations

from html import escape

from optimizers.genome import Genome, Term
from optimizers.rule import LION_MIX, NESTEROV_MIX


def _mi(name: str) -> str:
    return f"<mi>{escape(name)}</mi>"


def _mn(x: float) -> str:
    return f"<mn>{x:.4g}</mn>"


def _mo(op: str) -> str:
    return f"<mo>{escape(op)}</mo>"


def _hat(name: str, on: bool) -> str:
    return f"<mover>{_mi(name)}<mo>^</mo></mover>" if on else _mi(name)


def _corrected(x: str, beta1: float, power: str) -> str:
    """x / (1 - beta1^power)."""
    denominator = f"<mrow><mn>1</mn>{_mo('−')}<msup>{_mn(beta1)}{power}</msup></mrow>"
    return f"<mfrac><mrow>{x}</mrow>{denominator}</mfrac>"


def _nadam_mathml(beta1: float, bias_correction: bool, v: str) -> str:
    """(b1 m / (1 - b1^(t+1)) + (1 - b1) g / (1 - b1^t)) / (sqrt(v) + eps), raw m inside."""
    root_v = f"<mrow><msqrt>{v}</msqrt>{_mo('+')}{_mi('ε')}</mrow>"
    m_part, g_part = f"{_mn(beta1)}{_mi('m')}", f"{_mn(1.0 - beta1)}{_mi('g')}"
    if bias_correction:
        m_part = _corrected(m_part, beta1, "<mrow><mi>t</mi><mo>+</mo><mn>1</mn></mrow>")
        g_part = _corrected(g_part, beta1, _mi("t"))
    return f"<mfrac><mrow>{m_part}{_mo('+')}{g_part}</mrow>{root_v}</mfrac>"


def term_mathml(term: Term, m: str, v: str, beta1: float = 0.9, bias_correction: bool = False) -> str:
    """MathML of one primitive term with ``m`` and ``v`` given as MathML (``beta1`` and the
    bias-correction flag: NADAM writes its own corrections; LION reads the raw previous m)."""
    root_v = f"<mrow><msqrt>{v}</msqrt>{_mo('+')}{_mi('ε')}</mrow>"
    if term == Term.GRAD:
        return _mi("g")
    if term == Term.MOMENTUM:
        return m
    if term == Term.RMS_NORM:
        return f"<mfrac>{_mi('g')}{root_v}</mfrac>"
    if term == Term.ADAM_TERM:
        return f"<mfrac>{m}{root_v}</mfrac>"
    if term == Term.SIGN_GRAD:
        return f"<mrow><mi>sign</mi><mo>(</mo>{_mi('g')}<mo>)</mo></mrow>"
    if term == Term.SQRT_GRAD:
        return f"<mfrac>{_mi('g')}<mrow><mo>|</mo>{_mi('g')}<mo>|</mo><mo>+</mo>{_mi('ε')}</mrow></mfrac>"
    if term == Term.LION:
        m_prev = "<msub><mi>m</mi><mtext>prev</mtext></msub>"
        inner = f"{_mn(LION_MIX)}{m_prev}{_mo('+')}{_mn(1.0 - LION_MIX)}{_mi('g')}"
        return f"<mrow><mi>sign</mi><mo>(</mo>{inner}<mo>)</mo></mrow>"
    if term == Term.NADAM:
        return _nadam_mathml(beta1, bias_correction, v)
    if term == Term.ORTHO:  # matrices; every other tensor: the ADAM_TERM
        inner = f"{_mn(beta1)}{_mi('m')}{_mo('+')}{_mn(1.0 - beta1)}{_mi('g')}"
        return f"<mrow><mi>ortho</mi><mo>(</mo>{inner}<mo>)</mo></mrow>"
    return f"<mrow>{m}{_mo('+')}{_mn(NESTEROV_MIX)}<mo>(</mo>{_mi('g')}{_mo('−')}{m}<mo>)</mo></mrow>"


def _math(body: str) -> str:
    return f'<math display="block"><mrow>{body}</mrow></math>'


def genome_mathml(genome: Genome) -> str:
    """HTML: the update as MathML blocks plus one line of hyperparameters in words."""
    g = genome.canonical()
    bc = g.use_bias_correction
    m = _hat("m", bc and g.use_m) if g.use_m else _mi("g")
    v = _hat("v", bc and g.use_v) if g.use_v else "<msup><mi>g</mi><mn>2</mn></msup>"
    parts = []
    for i, (term, alpha) in enumerate(g.terms):
        sign = "" if i == 0 and alpha >= 0 else _mo("+" if alpha >= 0 else "−")
        body = term_mathml(term, m, v, g.beta1, bc and g.use_m)
        parts.append(f"{sign}{_mn(abs(alpha))}<mo>&#x22C5;</mo>{body}")
    update = (
        f"{_mi('p')}{_mo('←')}{_mi('p')}{_mo('−')}<msub><mi>η</mi><mi>k</mi></msub>"
        f"<mo>(</mo>{''.join(parts) or '<mn>0</mn>'}<mo>)</mo>"
    )
    blocks = [_math(update)]
    if g.use_m:
        b1 = g.beta1
        blocks.append(_math(f"{_mi('m')}{_mo('←')}{_mn(b1)}{_mi('m')}{_mo('+')}{_mn(1 - b1)}{_mi('g')}"))
    if g.use_v:
        b2 = g.beta2
        blocks.append(
            _math(
                f"{_mi('v')}{_mo('←')}{_mn(b2)}{_mi('v')}{_mo('+')}{_mn(1 - b2)}"
                "<msup><mi>g</mi><mn>2</mn></msup>"
            )
        )
    schedule = [f"η = {g.lr:.3g}"]
    if g.use_warmup:
        schedule.append(f"linear warmup over {g.warmup_steps} steps")
    if g.use_cosine_decay:
        schedule.append("cosine decay to the run's last step")
    words = [
        f"η<sub>k</sub>: {', '.join(schedule)}",
        f"ε = {g.eps:.1e}",
        f"decoupled weight decay λ = {g.weight_decay:.1e} (p ← p (1 − η<sub>k</sub> λ))",
    ]
    if bc and (g.use_m or g.use_v):
        words.append(
            "hats: bias-corrected (m / (1 − β<sub>1</sub><sup>t</sup>), v / (1 − β<sub>2</sub><sup>t</sup>))"
        )
    if g.use_gradient_clipping:
        words.append(f"g clipped element-wise to ±{g.clip_value:.3g}")
    return "".join(blocks) + f'<p class="rule-words">{"; ".join(words)}.</p>'
