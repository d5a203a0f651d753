"""Muon and LAMB as genomes: the ``muon`` genome (ORTHO) follows ``torch.optim.Muon``
(``adjust_lr_fn="match_rms_adamw"``) on 2-D parameters, the ``lamb`` genome (ADAM_TERM with the
trust ratio) follows :class:`PaperLamb`, written here from You et al. 2019 (Algorithm 2), in
every torch.optim convention scenario, for the per-tensor loop, the fast multi-tensor path and
the exported file. The new genes leave older genomes' seed JSON and hashes alone.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from exported_files import exported_class

from optimizers import Genome, GenomeOptimizer, Term
from optimizers.baselines import ADAM, LAMB, MUON
from optimizers.fingerprint import fingerprint
from tests.test_optimizer_conventions import SCENARIOS


class PaperLamb(torch.optim.Optimizer):
    """LAMB from the paper's equations, per tensor x with gradient g, t = 1, 2, ...:

    m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2, m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t),
    u = m_hat / (sqrt(v_hat) + eps) + wd x, x <- x - lr phi(||x||) / ||u|| u with
    phi(z) = min(z, 10), and the ratio 1 where ||x|| = 0 or ||u|| = 0.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=1e-2, maximize=False):
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "maximize": maximize}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for x in group["params"]:
                if x.grad is None:
                    continue
                g = -x.grad if group["maximize"] else x.grad
                state = self.state[x]
                if not state:
                    state["t"], state["m"], state["v"] = 0, torch.zeros_like(x), torch.zeros_like(x)
                state["t"] += 1
                t, m, v = state["t"], state["m"], state["v"]
                m.mul_(b1).add_((1 - b1) * g)
                v.mul_(b2).add_((1 - b2) * g * g)
                r = (m / (1 - b1**t)) / ((v / (1 - b2**t)).sqrt() + group["eps"])
                u = r + group["weight_decay"] * x
                x_norm, u_norm = x.norm(), u.norm()
                ratio = min(x_norm, 10.0) / u_norm if x_norm > 0 and u_norm > 0 else 1.0
                x.sub_(group["lr"] * ratio * u)


def torch_muon(params, **kw):
    return torch.optim.Muon(
        params, lr=1e-3, weight_decay=0.1, momentum=0.95, adjust_lr_fn="match_rms_adamw", **kw
    )


def matrix_model(seed: int = 0, bias: bool = False) -> torch.nn.Module:
    """Linear layers without biases: every parameter is a matrix (torch.optim.Muon's domain)."""
    torch.manual_seed(seed)
    layers = (torch.nn.Linear(6, 16, bias=bias), torch.nn.Tanh(), torch.nn.Linear(16, 3, bias=bias))
    return torch.nn.Sequential(*layers)



MAKERS = {
    "loop": lambda genome, folder: lambda p, **kw: GenomeOptimizer(p, genome, foreach=False, **kw),
    "fast": lambda genome, folder: lambda p, **kw: GenomeOptimizer(p, genome, foreach=None, **kw),
    "exported": lambda genome, folder: exported_class(genome, folder, "e_" + genome.hash),
}


@pytest.mark.parametrize("path", list(MAKERS))
@pytest.mark.parametrize("name", [n for n in SCENARIOS if n != "maximize"])  # torch's Muon cannot maximize
def test_muon_genome_is_torch_muon_on_matrices(name: str, path: str, tmp_path: Path) -> None:
    ours, theirs = matrix_model(), matrix_model()
    SCENARIOS[name](ours, MAKERS[path](MUON, tmp_path))
    SCENARIOS[name](theirs, torch_muon)
    for a, b, start in zip(ours.parameters(), theirs.parameters(), matrix_model().parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=2e-6)  # Newton-Schulz runs in bfloat16 in both
        assert (b - start).abs().max() > 1e-3  # it trained, far beyond the tolerance


@pytest.mark.parametrize("path", list(MAKERS))
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_lamb_genome_is_the_papers_lamb(name: str, path: str, tmp_path: Path) -> None:
    ours, theirs = matrix_model(bias=True), matrix_model(bias=True)
    with torch.no_grad():
        ours[0].bias.zero_()  # a zero tensor: the ratio-1 rule for ||x|| = 0 runs
        theirs[0].bias.zero_()
    SCENARIOS[name](ours, MAKERS[path](LAMB, tmp_path))
    SCENARIOS[name](theirs, PaperLamb)
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    assert not torch.equal(ours[0].weight, matrix_model()[0].weight)


def test_lamb_genome_in_float64_matches_the_paper_to_rounding() -> None:
    ours, theirs = matrix_model(bias=True).double(), matrix_model(bias=True).double()
    pairs = ((ours, GenomeOptimizer(ours.parameters(), LAMB)), (theirs, PaperLamb(theirs.parameters())))
    for model, opt in pairs:
        gen = torch.Generator().manual_seed(1)
        for _ in range(40):
            x, y = torch.randn(32, 6, generator=gen).double(), torch.randn(32, 3, generator=gen).double()
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            opt.step()
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_ortho_is_the_adam_term_on_tensors_that_are_not_matrices() -> None:
    """Muon's practice: biases (1-D) and other non-matrices get Adam, with the same lr and betas."""
    adam_like = ADAM.model_copy(update={"beta1": MUON.beta1, "wd_log10": MUON.wd_log10})
    gen = torch.Generator().manual_seed(0)
    start = [torch.randn(s, generator=gen) for s in ((8, 5), (5,), (2, 3, 4))]
    grads = [[torch.randn(p.shape, generator=gen) for p in start] for _ in range(10)]
    for foreach in (False, None):
        ours = [torch.nn.Parameter(p.clone()) for p in start]
        ref = [torch.nn.Parameter(p.clone()) for p in start]
        for params, genome in ((ours, MUON), (ref, adam_like)):
            opt = GenomeOptimizer(params, genome, foreach=foreach)
            for step in grads:
                for p, g in zip(params, step, strict=True):
                    p.grad = g.clone()
                opt.step()
        torch.testing.assert_close(ours[1], ref[1], rtol=0, atol=1e-7)
        torch.testing.assert_close(ours[2], ref[2], rtol=0, atol=1e-7)
        assert not torch.allclose(ours[0], ref[0], atol=1e-4)  # the matrix: orthogonalised


def test_ortho_update_has_adamw_rms_and_is_orthogonal() -> None:
    """One step from zero moments: ORTHO's update on an A x B matrix is 0.2 sqrt(max(A, B)) O with
    O's singular values about 1 (Newton-Schulz), so its RMS is about 0.2 (AdamW's typical RMS)."""
    for shape in ((64, 16), (16, 64), (32, 32)):
        p = torch.nn.Parameter(torch.zeros(shape))
        p.grad = torch.randn(shape, generator=torch.Generator().manual_seed(0))
        GenomeOptimizer([p], MUON.model_copy(update={"lr_log10": 0.0, "wd_log10": -30.0})).step()
        singular = torch.linalg.svdvals(-p.detach() / (0.2 * math.sqrt(max(shape))))
        assert singular.min() > 0.5 and singular.max() < 1.3, (shape, singular)
        rms = p.detach().pow(2).mean().sqrt()
        assert 0.1 < rms < 0.25, (shape, rms)


def test_new_genes_leave_older_genomes_alone() -> None:
    seed_json = ADAM.to_seed_dict()
    assert "use_trust_ratio" not in seed_json  # the seed's JSON form, as before
    assert Genome.model_validate(seed_json) == ADAM
    trusting = ADAM.model_copy(update={"use_trust_ratio": True})
    assert trusting.to_seed_dict()["use_trust_ratio"] is True
    assert trusting.hash != ADAM.hash and trusting.canonical().use_trust_ratio
    assert Genome.model_validate(trusting.to_seed_dict()) == trusting
    assert Genome(term_types=[Term.ORTHO]).hash != Genome(term_types=[Term.ADAM_TERM]).hash
    assert "trust" in LAMB.describe() and "ORTHO" in MUON.describe()
    # the functional fingerprint (float64 rule_step, a 6-vector and a 3 x 4 matrix) sees both genes
    assert fingerprint(trusting) != fingerprint(ADAM)
    assert fingerprint(MUON) != fingerprint(MUON.model_copy(update={"term_types": (Term.ADAM_TERM,)}))
