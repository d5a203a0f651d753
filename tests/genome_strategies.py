"""Genomes for tests: Hypothesis strategies (genome, rule and export tests) and a fixed, varied
set covering every term and flag combination (the population path's bit-for-bit tests)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from hypothesis import strategies as st

from optimizers.baselines import ADAM, EVO_SEED_BEST, SGD_MOMENTUM
from optimizers.genome import MAX_TERMS, Genome, Term


@st.composite
def genomes(
    draw: st.DrawFn,
    max_terms: int = MAX_TERMS,
    terms: Sequence[Term] = tuple(Term),
    first: Term | None = None,
) -> Genome:
    """Genomes over the seed's sampling ranges, flags included; term types drawn from ``terms``,
    the first one ``first`` when given."""
    n = draw(st.integers(1, max_terms))
    term_types = draw(st.lists(st.sampled_from(list(terms)), min_size=n, max_size=n))
    if first is not None:
        term_types[0] = first
    return Genome(
        term_types=term_types,
        alphas=draw(st.lists(st.floats(-2.0, 2.0, allow_nan=False), min_size=n, max_size=n)),
        lr_log10=draw(st.floats(-4.0, -2.0)),
        beta1=draw(st.floats(0.5, 0.99)),
        beta2=draw(st.floats(0.9, 0.9999)),
        eps_log10=draw(st.floats(-9.0, -6.0)),
        wd_log10=draw(st.floats(-5.0, -3.0)),
        use_m=draw(st.booleans()),
        use_v=draw(st.booleans()),
        use_bias_correction=draw(st.booleans()),
        use_gradient_clipping=draw(st.booleans()),
        clip_value=draw(st.floats(0.5, 2.0)),
        use_warmup=draw(st.booleans()),
        warmup_steps=draw(st.integers(2, 50)),
        use_cosine_decay=draw(st.booleans()),
    )


def varied_genomes(seed: int, alpha_max: float, lr_log10_max: float) -> list[Genome]:
    """Adam, the seed's evolved genome and SGD with momentum, then one two-term genome per term
    type (the second term drawn), hyperparameters drawn by ``random.Random(seed)`` and the m / v /
    bias correction / clipping / warmup / cosine flags cycling so that every combination occurs."""
    rng = random.Random(seed)
    out = [ADAM, EVO_SEED_BEST, SGD_MOMENTUM]
    for i, term in enumerate(Term):
        out.append(
            Genome(
                term_types=(term, rng.choice(list(Term))),
                alphas=(rng.uniform(0.2, alpha_max), rng.uniform(-0.5, 1.0)),
                lr_log10=rng.uniform(-3.5, lr_log10_max),
                beta1=rng.uniform(0.8, 0.95), beta2=rng.uniform(0.9, 0.999),
                eps_log10=rng.uniform(-8, -5), wd_log10=rng.uniform(-4, -2),
                use_m=i % 4 != 1, use_v=i % 4 != 2,
                use_bias_correction=i % 2 == 0, use_gradient_clipping=i % 3 == 0, clip_value=0.05,
                use_warmup=i % 3 == 1, warmup_steps=rng.randint(3, 15), use_cosine_decay=i % 2 == 1,
            )
        )  # fmt: skip
    return out
