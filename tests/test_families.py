"""The task families of issue 14: both training paths, determinism, data and scores."""

from __future__ import annotations

import importlib

import pytest
import torch

from optimizers.baselines import ADAM, EVO_SEED_BEST
from optimizers.genome import Genome, Term
from workers import EntrySpec, EvalRequest, evaluate
from workers.families import family_specs
from workers.families.common import explained_fraction
from workers.families.convex import _problem
from workers.families.tabular import TABULAR_TASKS, friedman_mlp
from workers.families.text import char_data, corpus
from workers.tasks.registry import TASKS

FAMILIES = [spec.name for spec in family_specs()] + list(TABULAR_TASKS)  # tabular: protocol tasks
DIVERGER = Genome(term_types=(Term.SIGN_GRAD,), alphas=(1.0,), lr_log10=2.0)
"""sign(g) steps of 100 per weight."""


def _run(task: str, path: str, steps: int = 5, genomes=(ADAM, EVO_SEED_BEST, DIVERGER), seeds=(0, 1)):
    request = EvalRequest(
        request_id=f"{task}-{path}", entries=[EntrySpec.of_genome(g) for g in genomes], task=task,
        seeds=list(seeds), steps=steps, path=path, data_dir="", device="cpu",
    )  # fmt: skip
    result = evaluate(request)
    assert result.path == path
    return result


@pytest.mark.parametrize("task", FAMILIES)
def test_family_trains_and_scores_the_same_on_both_paths(task):
    sequential = _run(task, "sequential")
    population = _run(task, "population")
    statuses = []
    for seq, pop in zip(sequential.members, population.members, strict=True):
        where = f"{task} {seq.entry_key} seed {seq.seed}"
        assert (seq.status, seq.steps_done) == (pop.status, pop.steps_done), where
        statuses.append(seq.status)
        if seq.status != "ok":
            assert seq.fitness == pop.fitness == -1.0
            continue
        assert 0.0 <= seq.accuracy <= 1.0, where
        assert pop.final_loss == pytest.approx(seq.final_loss, rel=1e-4, abs=1e-5), where
        assert pop.accuracy == pytest.approx(seq.accuracy, rel=1e-3, abs=2e-3), where
        for key, value in seq.extra.items():
            assert pop.extra[key] == pytest.approx(value, rel=1e-3, abs=1e-4), where
    assert statuses[:4] == ["ok"] * 4  # Adam and the seed genome train healthily
    assert "diverged" in statuses, "sign steps of 100 must cross the divergence bound"


@pytest.mark.parametrize("task", FAMILIES)
def test_family_is_deterministic_and_seed_dependent(task):
    a = _run(task, "sequential", steps=3, genomes=(ADAM,), seeds=(0, 1))
    b = _run(task, "sequential", steps=3, genomes=(ADAM,), seeds=(0, 1))
    assert [m.final_loss for m in a.members] == [m.final_loss for m in b.members]
    assert [m.accuracy for m in a.members] == [m.accuracy for m in b.members]
    assert a.members[0].final_loss != a.members[1].final_loss


def test_registry_describes_the_families():
    kinds = {TASKS[name].kind for name in FAMILIES}
    assert kinds == {"language_model", "sequence", "regression", "autoencoder", "convex"}
    for name in FAMILIES:
        assert not TASKS[name].needs_data_dir and "\n" not in TASKS[name].description


def test_text_splits_do_not_overlap_and_targets_are_the_next_character():
    text, vocab = corpus()
    assert len(text) > 4000 and 30 <= len(vocab) <= 60
    val, test = char_data(12, "val"), char_data(12, "test")
    assert torch.equal(val.x_train, test.x_train)
    assert torch.equal(val.x_train[:, 1:], val.y_train[:, :-1])  # y is x shifted by one
    decoded = "".join(vocab[i] for i in val.x_train[0].tolist())
    assert text.startswith(decoded)
    train_chars = int(0.8 * len(text))
    assert val.x_train.shape[0] == train_chars - 12  # every window inside the training part


def test_convex_problem_is_rotated_and_ill_conditioned_with_a_true_minimum():
    x, y, minimum = _problem(32, 1e3)
    cov = torch.cov(x.double().T)
    eig = torch.linalg.eigvalsh(cov)
    assert 500 < float(eig.max() / eig.min()) < 2000  # sample estimate of condition 1e3
    diagonal = cov.diagonal()
    assert float(diagonal.max() / diagonal.min()) < 20  # the ill-conditioning is not axis-aligned
    assert 0.0 < minimum < 0.69  # better than chance, finite (noisy labels)
    w = torch.zeros(33, dtype=torch.float64, requires_grad=True)
    a = torch.cat([x.double(), torch.ones(x.shape[0], 1, dtype=torch.float64)], 1)
    optimizer = torch.optim.LBFGS([w], max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(a @ w, y.double())
        loss.backward()
        return loss

    optimizer.step(closure)
    assert float(closure().detach()) >= minimum - 1e-9


def test_friedman_rows_split_once_and_standardised_on_training_rows():
    task = friedman_mlp()
    (x_train, y_train), (x_val, _), (x_test, _) = task.train, task.validation, task.test
    assert (x_train.shape, x_val.shape, x_test.shape) == ((2560, 10), (640, 10), (800, 10))
    rows = torch.cat([x_train, x_val, x_test])
    assert torch.unique(rows, dim=0).shape[0] == 4000  # the three splits are disjoint
    assert x_train.mean(0).abs().max() < 1e-5 and (x_train.std(0) - 1).abs().max() < 1e-5
    assert abs(float(y_train.mean())) < 1e-5 and abs(float(y_train.std()) - 1) < 1e-5
    # y = 10 sin(pi x0 x1) + 20 (x2 - 0.5)^2 + 10 x3 + 5 x4 + noise: x3 is the strongest linear
    # feature, x5..x9 are noise
    corr = [float(torch.corrcoef(torch.stack([x_train[:, j], y_train]))[0, 1]) for j in range(10)]
    assert max(range(10), key=lambda j: abs(corr[j])) == 3
    assert max(abs(c) for c in corr[5:]) < 0.1


def test_explained_fraction_is_clipped_r_squared():
    assert explained_fraction(0.0, 2.0) == 1.0
    assert explained_fraction(0.5, 2.0) == 0.75
    assert explained_fraction(4.0, 2.0) == 0.0
    assert explained_fraction(float("nan"), 2.0) == 0.0


def test_population_failure_falls_back_to_sequential_and_says_so_once(monkeypatch, caplog):
    evaluate_module = importlib.import_module("workers.evaluate")  # the package exports the function

    def cannot_run(*args, **kwargs):
        raise TypeError("population path cannot run model X")

    monkeypatch.setattr(evaluate_module, "train_population", cannot_run)
    monkeypatch.setattr(evaluate_module, "_FELL_BACK", set())
    expected = _run("logreg_illcond", "sequential", steps=3, genomes=(ADAM,), seeds=(0,))
    with caplog.at_level("DEBUG", logger="workers.evaluate"):
        results = [
            evaluate(EvalRequest(request_id=rid, entries=[EntrySpec.of_genome(ADAM)], task="logreg_illcond",
                                 seeds=[0], steps=3, path="population", data_dir="", device="cpu"))
            for rid in ("a", "b")
        ]  # fmt: skip
    assert [r.path for r in results] == ["sequential", "sequential"]
    assert results[0].members[0].final_loss == expected.members[0].final_loss
    said = [r.levelname for r in caplog.records if "cannot run model X" in r.getMessage()]
    assert said == ["WARNING", "DEBUG"]
