"""A genome in a short canonical form, and the known optimizer it is when it is one.

``short_rule`` writes the canonical genome (:meth:`optimizers.genome.Genome.canonical`: terms
merged, rewritten and sorted) with 3 significant digits and only the genes its terms read::

    2.73*ADAM_TERM + 0.873*RMS_NORM | lr 8.87e-03 b1 0.902 b2 0.972 eps 7.1e-09 wd 5.8e-05 | bc clip1

``known_name`` names the seed's baseline genomes (:mod:`optimizers.baselines`) when the rule
is one of them up to its step size. With the same terms in the same proportions, a genome
with weights :math:`k\\,\\alpha_i` (entry: :math:`\\alpha_i`) and learning rate
:math:`\\eta` (entry: :math:`\\eta_0`) takes the entry's step times
:math:`c = k\\,\\eta / \\eta_0`, and decays weights by :math:`\\eta\\lambda` per step, which is
the entry at lr :math:`c\\,\\eta_0` with weight decay :math:`\\lambda / k`. So the genome is
"Adam, lr x1.64" when :math:`c = 1.64` and every other gene (betas, eps, the effective weight
decay, the flags) equals the entry's; up to two genes that differ are named after it
("Adam, lr x1.64, b2 0.95"). The same terms in the same proportions with more differences or
other flags make it "Adam-like, lr x1.64"; other terms make it no known optimizer (None).
"""

from __future__ import annotations

import math

from optimizers.baselines import BASELINE_GENOMES, EVO_SEED_BEST
from optimizers.genome import Genome, Term

KNOWN: dict[str, Genome] = {
    "SGD-momentum": BASELINE_GENOMES["sgd_momentum"],
    "Adam": BASELINE_GENOMES["adam"],
    "AdamW": BASELINE_GENOMES["adamw"],
    "RMSProp": BASELINE_GENOMES["rmsprop"],
    "evo seed best": EVO_SEED_BEST,
}
"""Display name -> genome of the fixed entries that are genomes (registry names in lower case)."""
MAX_DIFFERENCES = 2
"""Genes besides the lr that may differ for a rule to be named after a known one."""
RTOL = 1e-3
"""Relative tolerance of "equal" for weights and genes (genomes are stored to 10 digits)."""

_READS_M = {Term.MOMENTUM, Term.ADAM_TERM, Term.NADAM, Term.LION}
_READS_V = {Term.RMS_NORM, Term.ADAM_TERM, Term.NADAM}
_READS_EPS = {Term.RMS_NORM, Term.ADAM_TERM, Term.SQRT_GRAD, Term.NADAM}


def short_rule(genome: Genome) -> str:
    """The canonical rule with 3 significant digits and only the genes its terms read."""
    c = genome.canonical()
    terms = " + ".join(f"{a:.3g}*{t.name}" for t, a in c.terms).replace("+ -", "- ")
    active = set(c.term_types)
    genes = [f"lr {c.lr:.3g}"]
    if active & _READS_M and c.use_m:
        genes.append(f"b1 {c.beta1:.3g}")
    if active & _READS_V and c.use_v:
        genes.append(f"b2 {c.beta2:.4g}")
    if active & _READS_EPS:
        genes.append(f"eps {c.eps:.2g}")
    genes.append(f"wd {c.weight_decay:.2g}")
    flags = [
        name
        for name, on in (
            ("bias-corrected", c.use_bias_correction),
            (f"clip {c.clip_value:.3g}", c.use_gradient_clipping),
            (f"warmup {c.warmup_steps}", c.use_warmup),
            ("cosine", c.use_cosine_decay),
        )
        if on
    ]
    return " | ".join([terms, " ".join(genes), *([", ".join(flags)] if flags else [])])


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=RTOL, abs_tol=1e-12)


def _match(genome: Genome, known: Genome) -> tuple[float, list[str] | None] | None:
    """(lr multiplier c, the genes that differ) of ``genome`` against ``known`` (both canonical):
    None when the terms or their proportions differ, (c, None) when the flags do."""
    if set(genome.term_types) != set(known.term_types):
        return None
    mine, theirs = dict(genome.terms), dict(known.terms)
    first = known.term_types[0]
    if theirs[first] == 0.0:
        return None
    k = mine[first] / theirs[first]
    if k <= 0 or any(not _close(mine[t], k * theirs[t]) for t in theirs):
        return None
    flags = (
        "use_m",
        "use_v",
        "use_bias_correction",
        "use_gradient_clipping",
        "use_warmup",
        "use_cosine_decay",
    )
    multiplier = k * genome.lr / known.lr
    if any(getattr(genome, f) != getattr(known, f) for f in flags) or (
        genome.use_warmup and genome.warmup_steps != known.warmup_steps
    ):
        return multiplier, None
    differ = [
        label
        for label, mine_v, theirs_v in (
            (f"b1 {genome.beta1:.3g}", genome.beta1, known.beta1),
            (f"b2 {genome.beta2:.4g}", genome.beta2, known.beta2),
            (f"eps {genome.eps:.2g}", genome.eps, known.eps),
            (f"wd {genome.weight_decay / k:.2g}", genome.weight_decay / k, known.weight_decay),
            (f"clip {genome.clip_value:.3g}", genome.clip_value, known.clip_value),
        )
        if not _close(mine_v, theirs_v)
    ]
    return multiplier, differ


def known_name(genome: Genome) -> str | None:
    """``"Adam"``, ``"Adam, lr x1.64"``, ``"AdamW, lr x0.5, b2 0.95"``, ``"Adam-like, lr x12"``,
    or None (see the module); the known rule with the fewest differences wins."""
    canonical = genome.canonical()
    best: tuple[int, str, float, list[str] | None] | None = None
    for name, known in KNOWN.items():
        found = _match(canonical, known.canonical())
        if found is None:
            continue
        multiplier, differ = found
        cost = len(differ) if differ is not None and len(differ) <= MAX_DIFFERENCES else MAX_DIFFERENCES + 1
        if best is None or cost < best[0]:
            best = (cost, name, multiplier, differ if cost <= MAX_DIFFERENCES else None)
    if best is None:
        return None
    _, name, multiplier, differ = best
    lr = [] if _close(multiplier, 1.0) else [f"lr x{multiplier:.3g}"]
    if differ is None:
        return ", ".join([f"{name}-like", *lr])
    return ", ".join([name, *lr, *differ])


def class_name_for(genome: Genome, registry_name: str | None = None) -> str:
    """An exported class's name after what it exports: a registry genome's display name
    (``adam`` -> ``AdamOptimizer``, ``sgd_momentum`` -> ``SGDMomentumOptimizer``), else
    ``Evolved`` + the known optimizer it is like (``EvolvedAdamLikeOptimizer``), else
    ``EvolvedOptimizer``."""
    if registry_name is not None:
        display = next(
            (n for n, g in KNOWN.items() if n.lower().replace("-", "_") == registry_name), registry_name
        )
        return _camel(display) + "Optimizer"
    name = known_name(genome)
    return "Evolved" + (_camel(name.split(",")[0]) if name else "") + "Optimizer"


def _camel(words: str) -> str:
    """``"SGD-momentum"`` -> ``"SGDMomentum"``, ``"evo seed best"`` -> ``"EvoSeedBest"``."""
    parts = words.replace("-", " ").replace("_", " ").split()
    return "".join(p[0].upper() + p[1:] for p in parts if p[0].isalnum())
