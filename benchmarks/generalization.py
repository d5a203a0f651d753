"""Does an optimizer generalize to problems unlike evo's training tasks? Paired comparison
of candidates against AdamW (lr 1e-3) and AdamW with its lr tuned per task, on the task
families of :mod:`workers.families`.

Protocol: every entry trains every task for ``--steps`` steps on seeds ``0..N-1``; a seed
fixes the initial weights and the batch order (the member streams of
:mod:`workers.seeding`), so the entries' results for one (task, seed) are paired. Scores
are taken on the families' test splits (the convex task scores its training objective);
the per-seed value compared is evo's fitness (``workers.fitness``: score + 0.05 loss bonus,
-1 for a divergence). Tuned AdamW: for each task, the lr of the grid with the best mean
fitness on the validation split over ``--tune-seeds`` seeds that are not evaluation seeds
(1000, 1001, ...), then evaluated like every entry. Paired statistics: :mod:`evo.stats`.

Candidates: registry names (``evo_seed_best``, ``adam``, ...), exported optimizer files
(``--export evolved.py:EvolvedOptimizer``, see ``evo export``) and/or the best evolved genome
of a stored run (``--run NAME --db URL``, ranked by :func:`evo.ranking.best`); every entry
trains on the sequential path (one ``torch.optim.Optimizer`` per member), one torch thread.

Run: ``.venv/bin/python benchmarks/generalization.py evo_seed_best [--run quick --db URL]
[--seeds 5 --steps 300]``.
Writes ``benchmarks/results/generalization.json`` and ``.md`` (``--out NAME``: ``NAME.json``, ``.md``).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from repro_common import markdown_table, write_results  # noqa: E402

from evo.stats import paired_comparison, summarize  # noqa: E402
from optimizers.genome_optimizer import GenomeOptimizer  # noqa: E402
from optimizers.registry import REGISTRY, get_entry  # noqa: E402
from workers.fitness import DIVERGED_FITNESS, mean_last_losses, seed_fitness  # noqa: E402
from workers.sequential import OptimizerFactory, train_sequential  # noqa: E402
from workers.tasks import TASKS  # noqa: E402

DEFAULT_TASKS = ("char_gru", "sort_transformer", "diabetes_mlp", "digits_autoencoder", "logreg_illcond")
LR_GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
TUNE_SEED0 = 1000
Factory = Callable[[int], OptimizerFactory]
"""total_steps -> optimizer factory."""


def registry_factory(name: str) -> Factory:
    entry = get_entry(name)
    return lambda steps: lambda params, generator: entry.build(params, steps, generator=generator)


def adamw_factory(lr: float) -> Factory:
    genome = REGISTRY["adamw"].genome.model_copy(update={"lr_log10": __import__("math").log10(lr)})
    return lambda steps: lambda params, _generator: GenomeOptimizer(params, genome, total_steps=steps)


def export_factory(spec: str) -> Factory:
    """``path.py:ClassName`` -> the exported optimizer class, built as ``Class(params, total_steps=...)``."""
    path, _, class_name = spec.rpartition(":")
    if not path or not class_name or not Path(path).is_file():
        raise SystemExit(f"error: --export wants an existing FILE.py:ClassName, got {spec!r}")
    module_spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    cls = getattr(module, class_name, None)
    if cls is None:
        raise SystemExit(f"error: {path} defines no {class_name}")
    return lambda steps: lambda params, _generator: cls(params, total_steps=steps)


def run_best_factory(run: str, db: str) -> tuple[str, Factory]:
    """``(name, factory)`` of the best evolved genome of stored run ``run`` (named ``RUN_best``)."""
    from evo.ranking import best
    from optimizers.errors import EvoError, one_line
    from storage import Store

    try:
        with Store(db) as store:
            ranked = [e for e in best(store, run, top_k=None) if not e.is_fixed and e.genome is not None]
    except EvoError as exc:
        raise SystemExit(f"error: --run {run}: {one_line(exc)}") from None
    if not ranked:
        raise SystemExit(f"error: run {run!r} has no evaluated genome")
    genome = ranked[0].genome
    print(f"{run}_best = {genome.hash}: {genome.describe()}", flush=True)

    def factory(steps: int) -> OptimizerFactory:
        return lambda params, _generator: GenomeOptimizer(params, genome, total_steps=steps)

    return f"{run}_best", factory


def fitness_of(task: str, factory: Factory, seed: int, steps: int, split: str) -> tuple[float, float]:
    """(fitness, score) of one member; a divergence or failure is (-1, 0)."""
    runtime = TASKS[task].runtime("", split, torch.device("cpu"))
    outcome = train_sequential(runtime, factory(steps), seed, steps)
    if outcome.status != "ok" or outcome.accuracy is None:
        return DIVERGED_FITNESS, 0.0
    return seed_fitness(outcome.accuracy, mean_last_losses(outcome.losses)), outcome.accuracy


def tune_lr(task: str, steps: int, tune_seeds: int) -> tuple[float, dict[str, float]]:
    """The grid lr with the best mean validation fitness over the tuning seeds."""
    means = {}
    for lr in LR_GRID:
        values = [
            fitness_of(task, adamw_factory(lr), TUNE_SEED0 + s, steps, "val")[0] for s in range(tune_seeds)
        ]
        means[f"{lr:g}"] = statistics.fmean(values)
    best = max(means, key=means.get)
    return float(best), means


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("entries", nargs="*", default=[], help="registry names of candidate optimizers")
    parser.add_argument("--export", action="append", default=[], metavar="FILE.py:CLASS")
    parser.add_argument("--run", help="also the best evolved genome of this stored run (needs --db)")
    parser.add_argument("--db", default="sqlite:///runs/evo.db", help="store of --run")
    parser.add_argument("--tasks", default=",".join(DEFAULT_TASKS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--tune-seeds", type=int, default=2)
    parser.add_argument("--out", default="generalization", help="writes benchmarks/results/OUT.json, .md")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    tasks = [t for t in args.tasks.split(",") if t]
    unknown = [t for t in tasks if t not in TASKS] + [e for e in args.entries if e not in REGISTRY]
    if unknown:
        raise SystemExit(f"error: unknown task or entry: {', '.join(unknown)}")
    candidates: dict[str, Factory] = {name: registry_factory(name) for name in args.entries}
    candidates |= {spec.rpartition(":")[2]: export_factory(spec) for spec in args.export}
    if args.run:
        name, factory = run_best_factory(args.run, args.db)
        candidates[name] = factory
    if not candidates:
        raise SystemExit("error: name at least one candidate (registry name or --export FILE.py:CLASS)")

    started = time.perf_counter()
    tuned: dict[str, dict] = {}
    fitness: dict[str, dict[tuple[str, int], float]] = {}
    scores: dict[str, dict[tuple[str, int], float]] = {}
    wall: dict[str, float] = {}
    for task in tasks:
        t0 = time.perf_counter()
        lr, grid = tune_lr(task, args.steps, args.tune_seeds)
        tuned[task] = {"lr": lr, "grid_mean_val_fitness": grid}
        entries = {**candidates, "adamw": registry_factory("adamw"), "adamw_tuned": adamw_factory(lr)}
        for name, factory in entries.items():
            for seed in range(args.seeds):
                f, s = fitness_of(task, factory, seed, args.steps, "test")
                fitness.setdefault(name, {})[(task, seed)] = f
                scores.setdefault(name, {})[(task, seed)] = s
        wall[task] = time.perf_counter() - t0
        print(f"{task}: tuned lr {lr:g}, {wall[task]:.0f} s", flush=True)

    rows, comparisons, lines = [], {}, []
    for cand in candidates:
        for base in ("adamw", "adamw_tuned"):
            stats = paired_comparison(fitness[cand], fitness[base])
            summary = summarize(stats)
            comparisons[f"{cand} vs {base}"] = {
                "summary": summary.text(),
                "tasks": {t: vars(s) for t, s in stats.items()},
            }
            lines.append(f"- **{cand} vs {base}**: {summary.text()}")
            for task, s in stats.items():
                mean_a = statistics.fmean(fitness[cand][(task, k)] for k in range(args.seeds))
                mean_b = statistics.fmean(fitness[base][(task, k)] for k in range(args.seeds))
                interval = f"[{s.ci_low:+.4f}, {s.ci_high:+.4f}]"
                rows.append([cand, base, task, mean_a, mean_b, s.mean_diff, interval,
                             f"{s.wins}/{s.ties}/{s.losses}", s.sign_p])  # fmt: skip
    total = time.perf_counter() - started
    table = markdown_table(
        [
            "candidate",
            "vs",
            "task",
            "candidate fitness",
            "baseline fitness",
            "mean diff",
            "95% CI",
            "W/T/L",
            "sign p",
        ],
        rows,
    )
    tuned_rows = [[t, f"{v['lr']:g}", f"{wall[t]:.0f}"] for t, v in tuned.items()]
    markdown = "\n\n".join([
        "# Generalization: paired comparison on the task families",
        f"{args.seeds} seeds (paired: same init and batches), {args.steps} steps, fitness on the test split "
        f"(score + 0.05 loss bonus, -1 diverged); tuned AdamW picks its lr from {list(LR_GRID)} per task on "
        f"the validation split over {args.tune_seeds} other seeds. "
        f"Total wall time {total:.0f} s (1 torch thread).",
        "\n".join(lines), table,
        markdown_table(["task", "tuned AdamW lr", "task wall s (tuning + all entries)"], tuned_rows),
    ])  # fmt: skip
    payload = {
        "seeds": args.seeds, "steps": args.steps, "tasks": tasks, "lr_grid": list(LR_GRID), "tuned": tuned,
        "comparisons": comparisons, "wall_s": {"total": total, **wall},
        "fitness": {e: {f"{t}/{s}": v for (t, s), v in values.items()} for e, values in fitness.items()},
        "score": {e: {f"{t}/{s}": v for (t, s), v in values.items()} for e, values in scores.items()},
    }  # fmt: skip
    json_path, md_path = write_results(args.out, payload, markdown)
    print(markdown)
    print(f"wrote {json_path} and {md_path}")


if __name__ == "__main__":
    main()
