"""The sequential and the population paths compute the same thing, on every task kind.

Both are run on the same genomes and seeds and compared member by member. Losses agree to
float rounding; an accuracy may differ by one evaluation example, whose logits sit on a
decision boundary where rounding decides the argmax.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from workers_datafiles import write_cifar10_like, write_mnist_like

from optimizers.baselines import ADAM, EVO_SEED_BEST, SGD_MOMENTUM
from optimizers.genome import Genome, Term
from workers import EntrySpec, EvalRequest, evaluate
from workers.population.stacked_forward import PopulationContext, population_forward, stack_members
from workers.tasks.datasets import MD5_ENV
from workers.tasks.landscape_models import MLP9, Point
from workers.tasks.models import bind_dropout_generator, build_model, cifar_cnn, mlp, small_cnn
from workers.tasks.registry import TASKS

DIVERGER = Genome(term_types=(Term.SIGN_GRAD,), alphas=(1.0,), lr_log10=1.0)
"""sign(g) steps of 10 per weight: classification losses pass 50 within a few steps."""

EXTENDED = (
    Genome(term_types=(Term.LION,), alphas=(1.0,), lr_log10=-2.5, beta1=0.99, wd_log10=-1.0),
    Genome(term_types=(Term.NADAM, Term.LION), alphas=(1.0, 0.1), lr_log10=-2.0, beta2=0.99),
)
"""The extended term set's LION (Lion) and NADAM (NAdam), alone and mixed."""

LANDSCAPES = sorted(name for name, task in TASKS.items() if task.kind == "landscape")


def _landscape_case(name: str) -> tuple[str, tuple[Genome, ...], tuple[int, ...], int]:
    # Ackley is bounded (< 22.4), so DIVERGER never diverges there: it throws the point to
    # |x| ~ 1e5 where cos(2 pi x) in float32 is rounding noise; it is left out. An MLP9 moves
    # its point by O(1) per step, a map that amplifies rounding: few steps for overparam.
    if "overparam" in name:
        genomes = (ADAM, EVO_SEED_BEST) if name.startswith("ackley") else (EVO_SEED_BEST, DIVERGER)
        return name, genomes, (0, 1), 4
    genomes = (ADAM, EVO_SEED_BEST) if name.startswith("ackley") else (ADAM, EVO_SEED_BEST, DIVERGER)
    return name, genomes, (0, 1), 10


CASES = [
    ("mnist", (EVO_SEED_BEST, DIVERGER), (0,), 3),
    ("cifar10", (ADAM, DIVERGER), (0,), 2),
    ("two_moons", (ADAM, SGD_MOMENTUM, DIVERGER), (0, 1), 6),
    ("digits", (EVO_SEED_BEST, SGD_MOMENTUM, DIVERGER), (0, 1), 6),
    ("two_moons", (*EXTENDED, DIVERGER), (0,), 6),
    *[_landscape_case(name) for name in LANDSCAPES],
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("equivalence-data")
    write_mnist_like(root, "MNIST", n_train=100, n_test=20)
    write_cifar10_like(root, per_batch=20, n_test=20)
    return str(root)


@pytest.fixture(autouse=True)
def _no_md5(monkeypatch):
    monkeypatch.setenv(MD5_ENV, "0")


def _run(task, genomes, seeds, steps, path, data_dir):
    request = EvalRequest(
        request_id=f"{task}-{path}", entries=[EntrySpec.of_genome(g) for g in genomes], task=task,
        seeds=list(seeds), steps=steps, path=path, data_dir=data_dir, device="cpu",
    )  # fmt: skip
    result = evaluate(request)
    assert result.path == path
    return result


CASE_IDS = [c[0] if c[1][0] not in EXTENDED else f"{c[0]}-extended" for c in CASES]


@pytest.mark.parametrize(("task", "genomes", "seeds", "steps"), CASES, ids=CASE_IDS)
def test_sequential_and_population_paths_agree(task, genomes, seeds, steps, data_dir):
    sequential = _run(task, genomes, seeds, steps, "sequential", data_dir)
    population = _run(task, genomes, seeds, steps, "population", data_dir)
    classification = TASKS[task].kind == "classification"
    one_example = 1 / 20 if task in ("mnist", "cifar10") else 1 / 1000 if task == "two_moons" else 1 / 287
    statuses = []
    for seq, pop in zip(sequential.members, population.members, strict=True):
        where = f"{task} {seq.entry_key} seed {seq.seed}"
        assert (seq.entry_key, seq.seed) == (pop.entry_key, pop.seed)
        assert seq.status == pop.status, where
        assert seq.steps_done == pop.steps_done, where
        statuses.append(seq.status)
        if seq.status != "ok":
            assert seq.fitness == pop.fitness == -1.0
            continue
        assert pop.final_loss == pytest.approx(seq.final_loss, rel=1e-4, abs=1e-5), where
        assert pop.mean_last_losses == pytest.approx(seq.mean_last_losses, rel=1e-4, abs=1e-5), where
        if classification:
            assert abs(pop.accuracy - seq.accuracy) <= one_example + 1e-12, where
        else:
            assert pop.accuracy == pytest.approx(seq.accuracy, rel=1e-4, abs=1e-6), where
            assert pop.extra["final_gap"] == pytest.approx(seq.extra["final_gap"], rel=1e-3, abs=1e-5), where
    assert "ok" in statuses
    if classification or task.startswith(("qubic", "rosenbrock", "six_hump")):
        assert "diverged" in statuses  # frozen members do not disturb the others


# -- the layers themselves: one stacked forward/backward == P module forwards/backwards --
MODELS = [
    ("small_cnn", small_cnn, (1, 28, 28)),
    ("cifar_cnn", cifar_cnn, (3, 32, 32)),
    ("mlp_tanh", lambda: mlp((2, 16, 16, 2), "tanh"), (2,)),
    ("mlp9_weight_norm", lambda: MLP9(4, 2, 16, weight_norm=True), None),
    ("mlp9", lambda: MLP9(4, 3, 16), None),
    ("point", lambda: Point(3), None),
]


@pytest.mark.parametrize(("name", "factory", "shape"), MODELS, ids=[m[0] for m in MODELS])
def test_population_forward_and_gradients_match_each_module(name, factory, shape):
    members = 3
    models = [build_model(factory, torch.Generator().manual_seed(i)) for i in range(members)]
    params, buffers = stack_members(models)
    x = None if shape is None else torch.randn(members, 5, *shape, generator=torch.Generator().manual_seed(9))
    gens = [torch.Generator().manual_seed(100 + i) for i in range(members)]
    out = population_forward(models[0], params, buffers, x, PopulationContext(True, gens))
    out.square().sum().backward()
    for i, model in enumerate(models):
        model.train()
        bind_dropout_generator(model, torch.Generator().manual_seed(100 + i))
        expected = model() if x is None else model(x[i])
        expected.square().sum().backward()
        torch.testing.assert_close(out[i], expected, rtol=1e-5, atol=1e-5)
        for param_name, param in model.named_parameters():
            torch.testing.assert_close(params[param_name].grad[i], param.grad, rtol=1e-4, atol=1e-5)
        for buffer_name, buffer in model.named_buffers():  # BatchNorm running statistics
            if buffer.is_floating_point():
                torch.testing.assert_close(buffers[buffer_name][i], buffer, rtol=1e-5, atol=1e-6)
    if x is not None:  # eval mode: no dropout, BatchNorm running statistics
        with torch.no_grad():
            out = population_forward(models[0], params, buffers, x, PopulationContext(False))
            for i, model in enumerate(models):
                torch.testing.assert_close(out[i], model.eval()(x[i]), rtol=1e-5, atol=1e-5)
                assert F.mse_loss(out[i], out[(i + 1) % members]) > 0  # members really differ
