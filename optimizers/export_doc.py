"""The exported file's account of its rule, for a PyTorch user: what one step computes, with
the genome's own numbers, written from its canonical form (:meth:`Genome.canonical`: the same
update in its simplest terms).

For example, for the registry's Adam::

    m = 0.9 m + 0.1 g                                   (first moment)
    v = 0.999 v + 0.001 g^2                             (second moment)
    m_hat = m / (1 - 0.9^t); v_hat = v / (1 - 0.999^t)  (bias correction, t = ...)
    p = p (1 - lr 0.0001)                               (decoupled weight decay)
    p = p - lr (m_hat / (sqrt(v_hat) + 1e-08))          (the update)
"""

from __future__ import annotations

from optimizers.genome import Genome, Term

TERM_FORMULAS: dict[Term, str] = {
    Term.GRAD: "g",
    Term.MOMENTUM: "m_hat",
    Term.RMS_NORM: "g / (sqrt(v_hat) + {eps})",
    Term.ADAM_TERM: "m_hat / (sqrt(v_hat) + {eps})",
    Term.SIGN_GRAD: "sign(g)",
    Term.SQRT_GRAD: "g / (|g| + {eps})",
    Term.NESTEROV: "(m_hat + 0.9 (g - m_hat))",
    Term.LION: "sign(0.9 m_prev + 0.1 g)",
    Term.NADAM: "({b1} m / (1 - {b1}^(t+1)) + {one_minus_b1} g / (1 - {b1}^t)) / (sqrt(v_hat) + {eps})",
}
"""Each term in plain text (m_prev: the first moment before this step's update)."""
READS_M = {Term.MOMENTUM, Term.ADAM_TERM, Term.NESTEROV, Term.LION, Term.NADAM}
READS_V = {Term.RMS_NORM, Term.ADAM_TERM, Term.NADAM}
NOTE_COLUMN = 52
"""Notes start here (a longer line puts its note right after it)."""


def _g(x: float) -> str:
    return f"{x:.6g}"


def _sum(genome: Genome) -> str:
    """``0.873 g / (sqrt(v_hat) + 1e-08) + 2.73 m_hat / (...)`` (weight 1 left out; m and v
    for m_hat and v_hat without bias correction)."""
    values = {"eps": _g(genome.eps), "b1": _g(genome.beta1), "one_minus_b1": _g(1.0 - genome.beta1)}
    parts = []
    for i, (term, weight) in enumerate(genome.terms):
        formula = TERM_FORMULAS.get(term, f"{term.name} (see the code)").format(**values)
        sign = "-" if weight < 0 else ("+" if i else "")
        size = "" if abs(weight) == 1.0 else f"{_g(abs(weight))} "
        parts.append(f"{sign} {size}{formula}".strip() if i or weight < 0 else f"{size}{formula}")
    text = " ".join(parts)
    return text if genome.use_bias_correction else text.replace("m_hat", "m").replace("v_hat", "v")


def rule_lines(genome: Genome) -> list[str]:
    """What one step does to a parameter p with gradient g, line by line (comment on the right)."""
    c = genome.canonical()
    active = set(c.term_types)
    steps: list[tuple[str, str]] = []
    schedule = ["lr"]
    if c.use_warmup:
        steps.append(
            (f"w = min(1, (k + 1) / {c.warmup_steps})", "linear warmup, k = the group's step from 0")
        )
        schedule.append("w")
    if c.use_cosine_decay:
        steps.append(("c = (1 + cos(pi min(k, K) / K)) / 2", "cosine decay, K = total_steps"))
        schedule.append("c")
    rate = "lr"
    if len(schedule) > 1:
        steps.append(("lr_t = " + " ".join(schedule), "the step's learning rate"))
        rate = "lr_t"
    if c.use_gradient_clipping:
        steps.append((f"g = clamp(g, -{_g(c.clip_value)}, {_g(c.clip_value)})", "element-wise clipping"))
    reads_m, reads_v = bool(active & READS_M) and c.use_m, bool(active & READS_V) and c.use_v
    if reads_m:
        steps.append((f"m = {_g(c.beta1)} m + {_g(1 - c.beta1)} g", "first moment, from m = 0"))
    if reads_v:
        steps.append((f"v = {_g(c.beta2)} v + {_g(1 - c.beta2)} g^2", "second moment, from v = 0"))
    if bool(active & READS_V) and not c.use_v:
        steps.append(("v = g^2", "no second-moment average"))
    if c.use_bias_correction:
        hats = [f"m_hat = m / (1 - {_g(c.beta1)}^t)" if reads_m else "m_hat = m"] if active & READS_M else []
        if active & READS_V:
            hats.append(f"v_hat = v / (1 - {_g(c.beta2)}^t)" if reads_v else "v_hat = v")
        steps.append(("; ".join(hats), "bias correction, t = the parameter's step from 1"))
    steps.append((f"p = p (1 - {rate} {_g(c.weight_decay)})", "decoupled weight decay"))
    steps.append((f"p = p - {rate} ({_sum(c)})", "the update"))
    width = min(max(len(code) for code, _ in steps), NOTE_COLUMN)
    return [f"{code.ljust(width)}  ({note})" if note else code for code, note in steps]
