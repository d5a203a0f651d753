"""Crossover children inherit from BOTH parents, terms and every crossed gene.

The parents differ in every crossed gene and share no term, so each child value tells which
parent it came from; over many draws each gene must come from each parent about half the
time, and the children's terms must be a prefix of a's then a suffix of b's.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from evo.search import operators as ops
from optimizers.genome import Genome, Term

PARENT_A = Genome(
    term_types=[Term.GRAD, Term.MOMENTUM], alphas=[0.1, 0.2], lr_log10=-2.0, beta1=0.5, beta2=0.9,
    eps_log10=-7.0, wd_log10=-3.0, use_m=True, use_v=True, use_bias_correction=True,
    use_gradient_clipping=False, clip_value=0.7, use_warmup=False, warmup_steps=60, use_cosine_decay=False,
)
PARENT_B = Genome(
    term_types=[Term.SIGN_GRAD, Term.NESTEROV, Term.SQRT_GRAD], alphas=[-0.3, -0.4, -0.5], lr_log10=-3.0,
    beta1=0.6, beta2=0.95, eps_log10=-8.0, wd_log10=-4.0, use_m=False, use_v=False,
    use_bias_correction=False, use_gradient_clipping=True, clip_value=1.5, use_warmup=True,
    warmup_steps=120, use_cosine_decay=True,
)
DRAWS = 400


@pytest.mark.parametrize("fix_bias", [False, True])
def test_children_take_terms_and_genes_from_both_parents(fix_bias: bool) -> None:
    rng = np.random.default_rng(5)
    from_b: Counter[str] = Counter()
    b_terms = 0
    for _ in range(DRAWS):
        child = ops.crossover(rng, PARENT_A, PARENT_B, fix_bias=fix_bias)
        for name in ops.CROSSOVER_GENES:
            a_value, b_value = getattr(PARENT_A, name), getattr(PARENT_B, name)
            assert a_value != b_value, name
            value = getattr(child, name)
            assert value in (a_value, b_value), name
            from_b[name] += value == b_value
        ta, tb = PARENT_A.terms, PARENT_B.terms
        splits = [(i, j) for i in range(1, len(ta) + 1) for j in range(len(tb) + 1)
                  if child.terms == (ta[:i] + tb[j:])[:4]]
        assert splits, child.terms
        b_terms += any(t in tb for t in child.terms)
    for name in ops.CROSSOVER_GENES:
        assert 0.4 < from_b[name] / DRAWS < 0.6, (name, from_b[name])
    if fix_bias:
        assert 0.1 * DRAWS < b_terms < DRAWS  # b's part may be empty, but not always
    else:
        assert b_terms == DRAWS  # the seed's cut: b always gives at least one term
