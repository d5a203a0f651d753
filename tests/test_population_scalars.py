"""The population path's cached scalars update exactly as ``population_update_`` does, bit for bit.

Both run the same trajectory side by side from the same stacked parameters: every step the
reference calls ``population_update_(..., k + 1, scheduled_lr(coef, k, K), coef)`` (what
the population loop did per step before the cache), the other
``PopulationScalars(coef, K).update_(k, ...)``, on the whole population and on member slices.
The genomes cover every term, warmup, cosine decay, clipping, bias correction on and off and
unused moments, so every cached scalar is read.
"""

from __future__ import annotations

import pytest
import torch

from optimizers.genome import Genome, Term
from optimizers.rule import bias_correction, population_update_, rule_coefficients, scheduled_lr, step_scalars
from tests.genome_strategies import varied_genomes
from workers.population.scalars import PopulationScalars

STEPS = 40
SHAPES = ((5, 3), (4,), (2, 3, 2))


def _genomes() -> list[Genome]:
    return varied_genomes(7, alpha_max=2.0, lr_log10_max=-1.5)


def _state(members: int) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    params = [torch.randn(members, *s, generator=gen) for s in SHAPES]
    return params, [torch.zeros_like(p) for p in params], [torch.zeros_like(p) for p in params]


def _grads(params: list[torch.Tensor], k: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(100 + k)
    return [p * 0.3 + torch.randn(p.shape, generator=gen) for p in params]  # depends on the trajectory


@pytest.mark.parametrize("spans", [((0, None),), ((0, 5), (5, None))], ids=["whole", "slices"])
def test_cached_scalars_update_bit_for_bit_as_population_update(spans):
    genomes = _genomes()
    members = len(genomes)
    coef = rule_coefficients([g.to_seed_dict() for g in genomes])
    assert set(coef["active_terms"]) == set(range(len(Term))) and coef["clipping"]
    cached = PopulationScalars(coef, STEPS)
    p_ref, m_ref, v_ref = _state(members)
    p_new, m_new, v_new = _state(members)
    for k in range(STEPS):
        population_update_(p_ref, _grads(p_ref, k), m_ref, v_ref, k + 1, scheduled_lr(coef, k, STEPS), coef)
        grads = _grads(p_new, k)
        for lo, end in spans:
            hi = members if end is None else end
            cut = [[x[lo:hi] for x in xs] for xs in (p_new, grads, m_new, v_new)]
            cached.update_(k, *cut, lo, hi)
        for ref, new in zip((*p_ref, *m_ref, *v_ref), (*p_new, *m_new, *v_new), strict=True):
            assert torch.equal(ref, new), f"step {k}"


def test_cached_scalars_are_the_rules_per_step_values():
    genomes = _genomes()
    coef = rule_coefficients([g.to_seed_dict() for g in genomes])
    cached = PopulationScalars(coef, STEPS)
    weight = torch.zeros(len(genomes), 2, 3)
    for k in (0, 7, STEPS - 1):
        s = cached.at(k, [weight])
        lr = scheduled_lr(coef, k, STEPS)
        assert torch.equal(s["lr"][0].flatten(), lr) and s["lr"][0].shape == (len(genomes), 1, 1)
        assert torch.equal(s["decay"][0].flatten(), 1.0 - lr * coef["weight_decay"])
        assert torch.equal(s["weights"][3][0].flatten(), coef["weights"][:, 3])
        assert torch.equal(
            s["bc2"][0].flatten(), torch.where(coef["bias_correction"], 1.0 - coef["beta2"] ** (k + 1), 1.0)
        )


@pytest.mark.parametrize("steps", [1, 2, 7, 40, 333, 1000])
def test_all_steps_table_is_the_per_step_calls(steps):
    """On a CPU the table's rates and decay factors are built for all steps at once; they must
    be the values of the per-step calls population_update_ makes, for every step."""
    genomes = _genomes()
    coef = rule_coefficients([g.to_seed_dict() for g in genomes])
    cached = PopulationScalars(coef, steps)
    assert cached.table["lr"].shape == cached.table["bc1"].shape == (steps, len(genomes))
    for k in range(steps):
        s = step_scalars(coef, scheduled_lr(coef, k, steps))
        assert torch.equal(cached.table["lr"][k], s["lr"]), k
        assert torch.equal(cached.table["decay"][k], s["decay"]), k
        for key, beta in (("bc1", coef["beta1"]), ("bc2", coef["beta2"])):
            assert torch.equal(cached.table[key][k], bias_correction(beta, k + 1, coef["bias_correction"])), k
