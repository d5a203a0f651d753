"""The functional fingerprint: same update -> same fingerprint, different updates -> different."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizers.baselines import ADAM, ADAMW, BASELINE_GENOMES, EVO_SEED_BEST, RMSPROP
from optimizers.fingerprint import DIGITS, fingerprint, trajectory
from optimizers.genome import Term
from tests.genome_strategies import genomes


def _same_trajectory(a, b) -> bool:
    """Every displacement equal to well within the fingerprint's rounding."""
    tol = 10.0 ** -(DIGITS + 2)
    return all(
        np.allclose(x, y, rtol=tol, atol=0.0, equal_nan=True)
        for x, y in zip(trajectory(a), trajectory(b), strict=True)
    )


def test_equivalences_the_canonical_form_misses_share_a_fingerprint() -> None:
    negligible_term = ADAM.model_copy(
        update={"term_types": (Term.ADAM_TERM, Term.SIGN_GRAD), "alphas": (1.0, 1e-12)}
    )
    assert negligible_term.hash != ADAM.hash
    assert fingerprint(negligible_term) == fingerprint(ADAM)
    tiny_eps = ADAM.model_copy(update={"eps_log10": -25.0})
    tinier_eps = ADAM.model_copy(update={"eps_log10": -28.0})
    assert tiny_eps.hash != tinier_eps.hash
    assert fingerprint(tiny_eps) == fingerprint(tinier_eps)


def test_the_baselines_all_differ() -> None:
    prints = [fingerprint(g) for g in (*BASELINE_GENOMES.values(), EVO_SEED_BEST)]
    assert len(set(prints)) == len(prints)
    assert fingerprint(ADAM) != fingerprint(ADAMW)  # only the weight decay differs


def test_small_real_differences_are_seen() -> None:
    for change in ({"alphas": (1.001,)}, {"beta2": 0.998}, {"lr_log10": -3.0005}, {"wd_log10": -3.9}):
        assert fingerprint(RMSPROP.model_copy(update=change)) != fingerprint(RMSPROP), change


def _clearly_different(a, b) -> bool:
    """Some displacement differs by more than 1e-3 relative (far beyond the rounding)."""
    return not all(
        np.allclose(x, y, rtol=1e-3, atol=0.0, equal_nan=True)
        for x, y in zip(trajectory(a), trajectory(b), strict=True)
    )


GENES = st.sampled_from(["lr_log10", "beta1", "beta2", "eps_log10", "wd_log10", "alpha", "warmup_steps"])


def _perturbed(genome, gene: str, delta: float):
    if gene == "alpha":
        return genome.model_copy(update={"alphas": (genome.alphas[0] * (1 + delta), *genome.alphas[1:])})
    if gene == "warmup_steps":
        return genome.model_copy(update={"warmup_steps": genome.warmup_steps + 1 + int(delta * 10)})
    value = getattr(genome, gene)
    bounds = {"beta1": (0.0, 0.999), "beta2": (0.0, 0.999)}.get(gene, (-30.0, 0.0) if gene != "lr_log10" else
                                                            (-12.0, 2.0))
    return genome.model_copy(update={gene: min(bounds[1], max(bounds[0], value + delta))})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=genomes(), gene=GENES, delta=st.floats(-0.5, 0.5).filter(lambda d: abs(d) > 1e-3))
def test_different_updates_never_share_a_fingerprint(a, gene, delta) -> None:
    b = _perturbed(a, gene, delta)
    if fingerprint(a) == fingerprint(b):
        assert _same_trajectory(a, b) or not _clearly_different(a, b)
    if _clearly_different(a, b):
        assert fingerprint(a) != fingerprint(b)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=genomes(), factor=st.floats(1.01, 2.0))
def test_a_scaled_rule_never_shares_its_fingerprint(a, factor) -> None:
    scaled = a.model_copy(update={"alphas": tuple(x * factor for x in a.alphas)})
    if _clearly_different(a, scaled):
        assert fingerprint(scaled) != fingerprint(a)
