"""``evo best`` / ``evo compare`` tables on a small stored run: 100 columns, canonical rules with
known optimizers named, diverged seeds marked, a fitness footer, titles that count, and a run
without an evolved genome that suggests a command which works."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import evo

from evo.config.schema import load_config
from evo.evidence.divergence import DIVERGED_FITNESS
from evo.evidence.known_rule import known_name, short_rule
from evo.runner.driver import fixed_entries
from optimizers.baselines import ADAM, ADAMW, EVO_SEED_BEST, RMSPROP, SGD_MOMENTUM
from optimizers.genome import Genome, Term
from storage import EvaluationIn, IndividualIn, RunScope, Store
from workers.fitness import DIVERGED_FITNESS as WORKER_DIVERGED

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "quick.yaml"
TASKS = ["digits", "two_moons", "rosenbrock_direct", "rastrigin_direct"]
RAW = Genome(  # written as the GA writes it: repeated terms, raw weights
    term_types=(Term.ADAM_TERM, Term.RMS_NORM, Term.ADAM_TERM, Term.ADAM_TERM),
    alphas=(0.3286, 0.873, 1.201, 1.201), lr_log10=-2.4,
)  # fmt: skip


def evolved(i: int) -> Genome:
    """Distinct evolved genomes; the first is RAW, the second Adam at 1.64 x its step."""
    if i == 0:
        return RAW
    if i == 1:  # weight 1.64 at Adam's lr, weight decay scaled so that the per-step decay is Adam's x 1.64
        return ADAM.model_copy(update={"alphas": (1.64,), "wd_log10": ADAM.wd_log10 + 0.2148438})
    return Genome(term_types=(Term.RMS_NORM, Term.SIGN_GRAD), alphas=(1.0, 0.1 * i), lr_log10=-3.0 + 0.01 * i)


def make_run(db: Path, n_evolved: int, status: str = "finished", run_row: bool = True) -> str:
    """A run of quick.yaml's scope with its 8 fixed entries and ``n_evolved`` evolved genomes, all
    scored; sgd_momentum's seed 0 on rosenbrock_direct diverged. Without ``run_row`` only the
    evaluations are stored (as ``evo compare`` leaves them). Returns the store URL."""
    cfg = load_config(CONFIG, ["executor.kind=inline"])
    url = f"sqlite:///{db}"
    scope = RunScope(tasks=TASKS, seeds=[0, 1], budget_key=cfg.budget_key)
    rows, _ = fixed_entries(cfg.fixed_entries)
    genomes = [evolved(i) for i in range(n_evolved)]
    with Store(url) as store:
        run = store.create_run("r", cfg.model_dump(mode="json"), 0, scope) if run_row else None
        if run is not None:
            store.save_generation(run.id, -1, rows)
        if genomes and run is not None:
            slots = [IndividualIn(slot=i, entry_key=g.hash, genome=g, origin="init")
                     for i, g in enumerate(genomes)]  # fmt: skip
            store.save_generation(run.id, 0, slots)
        keys = [r.entry_key for r in rows] + [g.hash for g in genomes]
        sgd = next(r.entry_key for r in rows if r.label == "sgd_momentum")
        evaluations = []
        for n, key in enumerate(keys):
            for t, task in enumerate(TASKS):
                for seed in (0, 1):
                    diverged = key == sgd and task == "rosenbrock_direct" and seed == 0
                    fitness = DIVERGED_FITNESS if diverged else 0.9 - 0.01 * n - 0.1 * t + 0.001 * seed
                    evaluations.append(EvaluationIn(
                        entry_key=key, task=task, seed=seed, budget_key=cfg.budget_key, fitness=fitness,
                        status="diverged" if diverged else "ok",
                    ))  # fmt: skip
        store.record_evaluations(evaluations)
        if run is not None:
            store.set_status(run.id, status)
    return url


def test_the_penalty_is_the_workers() -> None:
    assert DIVERGED_FITNESS == WORKER_DIVERGED


@pytest.mark.parametrize(
    ("genome", "name"),
    [
        (ADAM, "Adam"),
        (ADAMW, "AdamW"),
        (RMSPROP, "RMSProp"),
        (SGD_MOMENTUM, "SGD-momentum"),
        (EVO_SEED_BEST, "evo seed best"),
        (evolved(1), "Adam, lr x1.64"),  # 1.64 x the weight at Adam's lr, Adam's effective decay
        (ADAM.model_copy(update={"lr_log10": -2.0}), "Adam, lr x10"),  # torch AdamW(lr=1e-2, wd=1e-4) too
        (ADAM.model_copy(update={"alphas": (10.0,)}), "Adam, lr x10, wd 1e-05"),  # decay/step stays Adam's
        (ADAM.model_copy(update={"beta2": 0.95}), "Adam, b2 0.95"),
        (ADAM.model_copy(update={"use_gradient_clipping": True, "alphas": (2.0,)}), "Adam-like, lr x2"),
        (RAW, None),  # RMS_NORM and ADAM_TERM: no known rule
    ],
)
def test_known_optimizers_are_named_up_to_their_step(genome: Genome, name: str | None) -> None:
    assert known_name(genome) == name


def test_short_rule_is_the_canonical_form() -> None:
    assert short_rule(RAW).startswith("0.873*RMS_NORM + 2.73*ADAM_TERM | lr 0.00398 b1 0.9 b2 0.999")
    # nothing reads eps or beta2: left out
    assert short_rule(SGD_MOMENTUM) == "1*MOMENTUM | lr 0.01 b1 0.9 wd 0.0001"


def test_best_fits_100_columns_with_canonical_rules(capsys, monkeypatch, tmp_path) -> None:
    url = make_run(tmp_path / "evo.db", n_evolved=12)
    monkeypatch.setenv("COLUMNS", "100")
    code, out, err = evo(capsys, "best", "r", "--db", url)
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) <= 70 and max(len(line) for line in lines) <= 100, out
    assert "the 10 best evolved entries and the 8 fixed entries" in lines[0]
    assert "0.873*RMS_NORM + 2.73*ADAM_TERM" in out and "0.3286" not in out  # canonical, not raw
    assert "Adam, lr x1.64: 1.64*ADAM_TERM" in out
    assert "opaque optimizer" in out and "AdamW: 1*ADAM_TERM" in out
    sgd = next(line for line in lines if " sgd_momentum " in line)
    assert "!1" in sgd.split()[-2] and sgd.count("!") == 1  # the rosenbrock cell, one seed of 2
    assert "!k: k of the cell's 2 seeds diverged" in out
    assert "scores -1 (the divergence penalty)" in " ".join(out.split())


def test_two_seeds_claim_no_significance_on_the_command_line(capsys, tmp_path) -> None:
    url = make_run(tmp_path / "evo.db", n_evolved=3)
    code, out, err = evo(capsys, "best", "r", "--db", url, "--vs", "adam")
    assert code == 0, err
    paired = [line for line in out.splitlines() if "vs adam" in line or line.startswith("  training ")]
    assert paired[0].endswith("of 4 tasks (n = 2: too few seeds to test)")
    assert len(paired) == 5 and all("n = 2: too few seeds to test" in line for line in paired)
    assert "significant" not in out


def test_compare_shows_genome_entries_rules(capsys, monkeypatch, tmp_path) -> None:
    """Every fixed entry's evaluations are cached, so compare evaluates nothing; no run stored
    the genome entries' genomes."""
    url = make_run(tmp_path / "evo.db", n_evolved=0, run_row=False)
    monkeypatch.setenv("COLUMNS", "100")
    code, out, err = evo(capsys, "compare", CONFIG, "executor.kind=inline", "--db", url)
    assert code == 0, err
    assert "Adam: 1*ADAM_TERM" in out and "SGD-momentum: 1*MOMENTUM" in out
    assert out.count("opaque optimizer") == 3  # alme, lion, azure_sky only
    assert "the 8 fixed entries" in out.splitlines()[0]


def test_a_run_without_an_evolved_genome_suggests_a_command_that_works(capsys, monkeypatch, tmp_path) -> None:
    url = make_run(tmp_path / "evo.db", n_evolved=0)
    code, out, err = evo(capsys, "best", "r", "--db", url)
    assert code == 0, err
    assert "no evolved genome scored yet, only the 8 fixed entries" in out.splitlines()[0]
    assert "has no evolved genome scored" in err
    (command,) = [line.split()[1:] for line in err.splitlines() if line.startswith("  evo ")]
    monkeypatch.chdir(tmp_path)
    code, _, err = evo(capsys, *command)
    assert code == 0, err
    assert (tmp_path / command[-1]).exists()
    code, _, err = evo(capsys, "best", "r", "--db", url, "--vs", "adam")
    assert code == 2 and "has no evolved genome scored" in err
