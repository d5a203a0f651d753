"""The report's rule text writes every term, the extended LION and NADAM included."""

from __future__ import annotations

import pytest

from evo.report.formula import genome_mathml, term_mathml
from optimizers.genome import Genome, Term


def test_every_term_renders_its_own_formula() -> None:
    rendered = {term: term_mathml(term, "<mi>m</mi>", "<mi>v</mi>", 0.8, True) for term in Term}
    assert len(set(rendered.values())) == len(Term)


def test_lion_is_the_sign_of_the_previous_momentum_mixed_with_g() -> None:
    html = genome_mathml(Genome(term_types=[Term.LION], alphas=[1.0], beta1=0.99))
    assert "<mi>sign</mi><mo>(</mo><mn>0.9</mn><msub><mi>m</mi><mtext>prev</mtext></msub>" in html
    assert "<mn>0.1</mn><mi>g</mi>" in html
    assert "<mn>0.99</mn><mi>m</mi>" in html  # the momentum's own EMA


@pytest.mark.parametrize("bias_correction", [True, False])
def test_nadam_writes_its_bias_corrections(bias_correction: bool) -> None:
    genome = Genome(term_types=[Term.NADAM], alphas=[1.0], beta1=0.8, use_bias_correction=bias_correction)
    html = genome_mathml(genome)
    has_t_plus_1 = "<msup><mn>0.8</mn><mrow><mi>t</mi><mo>+</mo><mn>1</mn></mrow></msup>" in html
    # without bias correction the canonical form is 0.8 ADAM_TERM + 0.2 RMS_NORM (no NADAM left)
    assert has_t_plus_1 is bias_correction
    assert ("<mfrac><mrow><mn>0.2</mn><mi>g</mi></mrow>" in html) is bias_correction
    assert ("<mn>0.8</mn><mo>&#x22C5;</mo><mfrac><mi>m</mi>" in html) is not bias_correction
