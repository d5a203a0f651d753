"""Hypothesis strategies for valid genomes (shared by the genome, rule and export tests)."""

from __future__ import annotations

from hypothesis import strategies as st

from optimizers.genome import MAX_TERMS, Genome, Term


@st.composite
def genomes(draw: st.DrawFn, max_terms: int = MAX_TERMS) -> Genome:
    """Genomes over the seed's sampling ranges, flags included."""
    n = draw(st.integers(1, max_terms))
    return Genome(
        term_types=draw(st.lists(st.sampled_from(list(Term)), min_size=n, max_size=n)),
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
