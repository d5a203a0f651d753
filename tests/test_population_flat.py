"""The flat-buffer population (one ``[P, N]`` tensor per state) trains bit for bit as before.

Reference: the population loop with one tensor per parameter, autograd's backward and the
grouped per-tensor update (what runs where the runtime offers no hand-written backward;
here forced by hiding ``population_trainer``). Both train the same members on digits (ReLU
MLP) and two_moons (Tanh MLP): genomes that use every term (LION and NADAM included),
clipping, warmup, cosine decay, bias correction on and off, unused moments, and a genome that
diverges, so the masked update of frozen members runs too. Loss histories, divergence steps,
accuracies and the final parameters must be equal, not close.
"""

from __future__ import annotations

import pytest
import torch

from optimizers.genome import Genome, Term
from optimizers.rule import rule_coefficients
from tests.genome_strategies import varied_genomes
from workers.population.flat_state import FlatPopulation
from workers.population.loop import train_population
from workers.population.scalars import PopulationScalars
from workers.tasks.registry import TASKS

DIVERGER = Genome(term_types=(Term.SIGN_GRAD,), alphas=(1.0,), lr_log10=1.0)
"""sign(g) steps of 10 per weight: the loss passes the divergence bound within a few steps."""


def _genomes() -> list[Genome]:
    """13 members: Adam, evo_seed_best, SGD momentum, a two-term genome per term, the diverger."""
    return [*varied_genomes(11, alpha_max=1.5, lr_log10_max=-2.0), DIVERGER]


def _train(runtime, genomes, steps, flat: bool):
    """train_population's outcomes and final parameters (as scored), on the flat path or not."""
    final = {}
    evaluate = runtime.population_evaluate

    def keep(model, params, buffers, chunk_size):
        final.update({n: p.detach().clone() for n, p in params.items()})
        return evaluate(model, params, buffers, chunk_size)

    runtime.population_evaluate = keep
    if not flat:
        runtime.population_trainer = lambda model, params: None  # autograd, per-tensor update
    try:
        outcomes = train_population(runtime, genomes, list(range(len(genomes))), steps)
    finally:
        for name in ("population_evaluate", "population_trainer"):
            runtime.__dict__.pop(name, None)
    return outcomes, final


@pytest.mark.parametrize("task", ["digits", "two_moons"])
def test_flat_population_trains_bit_for_bit_as_the_per_tensor_autograd_path(task):
    runtime = TASKS[task].runtime("unused", "val", torch.device("cpu"))
    genomes, steps = _genomes(), 12
    flat_outcomes, flat_params = _train(runtime, genomes, steps, flat=True)
    ref_outcomes, ref_params = _train(runtime, genomes, steps, flat=False)
    statuses = [o.status for o in ref_outcomes]
    assert "diverged" in statuses and statuses.count("ok") >= 10
    for i, (got, ref) in enumerate(zip(flat_outcomes, ref_outcomes, strict=True)):
        assert (got.status, got.steps_done, got.losses, got.accuracy) == (
            ref.status,
            ref.steps_done,
            ref.losses,
            ref.accuracy,
        ), f"member {i}"
    assert list(flat_params) == list(ref_params)
    for name, ref in ref_params.items():
        assert torch.equal(flat_params[name], ref), name


@pytest.mark.parametrize("elementwise", [True, False])
def test_flat_update_equals_the_update_of_the_named_tensors(elementwise: bool):
    """One update of the flat buffers == the update of the list of named [P, ...] tensors,
    for 30 steps of every genome above, from the same state and gradients (ORTHO among the
    terms: the buffers' named views, as the loop does; element-wise genomes: the whole buffers)."""
    genomes = [g for g in _genomes() if not elementwise or Term.ORTHO not in g.term_types]
    members = len(genomes)
    coef = rule_coefficients([g.to_seed_dict() for g in genomes])
    scalars = PopulationScalars(coef, 30)
    gen = torch.Generator().manual_seed(3)
    shapes = ((7, 5), (7,), (3, 7), (3,))
    params = {f"p{i}": torch.randn(members, *s, generator=gen) for i, s in enumerate(shapes)}
    flat = FlatPopulation(params)
    ref_p = {n: p.clone() for n, p in params.items()}
    ref_m = {n: torch.zeros_like(p) for n, p in params.items()}
    ref_v = {n: torch.zeros_like(p) for n, p in params.items()}
    for k in range(30):
        grads = {n: p * 0.2 + torch.randn(p.shape, generator=gen) for n, p in ref_p.items()}
        for name, g in grads.items():
            flat.views["grads"][name].copy_(g)
        assert scalars.elementwise is elementwise
        scalars.update_(k, *(flat.update_lists() if elementwise else flat.named_lists()))
        names = list(params)
        scalars.update_(k, *([d[n] for n in names] for d in (ref_p, grads, ref_m, ref_v)))
        for state, ref in (("params", ref_p), ("exp_avg", ref_m), ("exp_avg_sq", ref_v)):
            for name in names:
                assert torch.equal(flat.views[state][name], ref[name]), (k, state, name)


def test_flat_population_layout():
    params = {"w": torch.arange(2 * 6.0).view(2, 3, 2), "b": torch.tensor([[1.0], [2.0]])}
    flat = FlatPopulation(params)
    assert flat.flat["params"].shape == (2, 7) and flat.flat["params"].is_contiguous()
    assert torch.equal(flat.flat["params"][0], torch.tensor([0.0, 1, 2, 3, 4, 5, 1]))
    for state in ("params", "grads", "exp_avg", "exp_avg_sq"):
        views = flat.views[state]
        assert list(views) == ["w", "b"] and views["w"].shape == (2, 3, 2) and views["b"].shape == (2, 1)
        assert all(v.data_ptr() >= flat.flat[state].data_ptr() for v in views.values())
    flat.views["grads"]["b"].fill_(5.0)  # a write through a view is a write of the buffer
    assert torch.equal(flat.flat["grads"][:, 6], torch.tensor([5.0, 5.0]))
    assert not flat.flat["exp_avg"].any() and not flat.flat["exp_avg_sq"].any()
    with pytest.raises(ValueError, match="stacked like"):
        FlatPopulation({"w": torch.zeros(2, 3), "b": torch.zeros(3, 1)})
