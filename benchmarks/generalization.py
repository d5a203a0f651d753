"""Does an optimizer generalize to problems unlike evo's training tasks? Paired comparison
of candidates against AdamW (lr 1e-3) and AdamW with its lr tuned per task, on the task
families of :mod:`workers.families`.

Protocol: every entry trains every task for ``--steps`` steps (default: the ``--run``'s
``evaluation.steps``, else 200; a longer horizon is a second call, e.g. ``--steps 600``) on
seeds ``0..N-1``; a seed fixes the initial weights and the batch order (the member streams of
:mod:`workers.seeding`), so the entries' results for one (task, seed) are paired. Scores
are taken on the families' test splits (the convex task scores its training objective);
the per-seed value compared is evo's fitness (``workers.fitness``: score + 0.05 loss bonus,
-1 for a divergence).

Tuning, tuned against tuned: per task, AdamW's lr is the point of :data:`LR_GRID` (9 points,
1e-4..1 = 1e-3 x 0.1..1000) and a candidate genome's lr is its own lr times the point of
:data:`GENOME_MULTS` (9 points, 0.01..100: the same count and the same 10^4 span, centred on
its own lr) with the best mean fitness on the validation split over ``--tune-seeds`` seeds
that are not evaluation seeds (1000, 1001, ...); the tuned entry is then evaluated like every
entry. A pick at an end of its grid is flagged ("edge") in the tables. Each genome candidate
is reported at its own lr (``NAME``) and tuned (``NAME_tuned``); comparisons: ``NAME`` vs
``adamw_tuned``, ``NAME_tuned`` vs ``adamw_tuned``, ``NAME`` vs ``adamw`` (lr 1e-3), and
``NAME`` vs ``adamw_schedule_tuned``: AdamW with the schedule practitioners add, linear warmup
over the first 10% of the steps then cosine decay to 0 (the genome flags ``use_warmup``,
``warmup_steps = steps // 10``, ``use_cosine_decay``), its lr tuned on the same grid, so a
candidate whose gain is only "a schedule" shows it; and ``NAME`` and ``NAME_tuned`` vs
``muon_tuned``: the ``muon`` genome (``torch.optim.Muon`` on matrices, Adam elsewhere) with
its lr tuned on AdamW's grid. Paired
statistics (mean difference, 95% paired t-interval, t-test and sign test): :mod:`evo.evidence.stats`.

Candidates: registry names (``evo_seed_best``, ``adam``, ...), exported optimizer files
(``--export evolved.py:EvolvedOptimizer``, see ``evo export``; own lr only) and/or the rank-1
evolved genome of a stored run (``--run NAME --db URL``, ranked on the run's TRAINING tasks
only by :mod:`generalization_pick`: ``--pick search``, the GA's own lr-aggregated and
normalised fitness, or ``--pick raw``, ``evo best``'s order); every entry trains on the
sequential path (one ``torch.optim.Optimizer`` per member), one torch thread.

Run: ``.venv/bin/python benchmarks/generalization.py evo_seed_best [--run quick --db URL]
[--seeds 5 --steps 200]``.
Writes ``benchmarks/results/generalization.json`` and ``.md`` (``--out NAME``: ``NAME.json``, ``.md``).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from repro_common import markdown_table, write_results  # noqa: E402

from evo.evidence.stats import paired_comparison, summarize  # noqa: E402
from optimizers.entry import scaled_genome  # noqa: E402
from optimizers.genome import Genome  # noqa: E402
from optimizers.genome_optimizer import GenomeOptimizer  # noqa: E402
from optimizers.registry import REGISTRY, get_entry  # noqa: E402
from workers.fitness import DIVERGED_FITNESS, mean_last_losses, seed_fitness  # noqa: E402
from workers.sequential import OptimizerFactory, train_sequential  # noqa: E402
from workers.tasks.registry import TASKS  # noqa: E402

DEFAULT_TASKS = ("char_gru", "sort_transformer", "diabetes_mlp", "digits_autoencoder", "logreg_illcond")
LR_GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0)
"""AdamW's tuning grid: 1e-3 x (0.1 .. 1000); 1e-1 was still picked on logreg_illcond."""
GENOME_MULTS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
"""A genome candidate's tuning grid: multiples of its own lr (same count and span as LR_GRID)."""
TUNE_SEED0 = 1000
DEFAULT_STEPS = 200
Factory = Callable[[int], OptimizerFactory]
"""total_steps -> optimizer factory."""


def registry_factory(name: str) -> Factory:
    entry = get_entry(name)
    return lambda steps: lambda params, generator: entry.build(params, steps, generator=generator)


def genome_factory(genome: Genome) -> Factory:
    return lambda steps: lambda params, _generator: GenomeOptimizer(params, genome, total_steps=steps)


def adamw_factory(lr: float) -> Factory:
    return genome_factory(REGISTRY["adamw"].genome.model_copy(update={"lr_log10": math.log10(lr)}))


def muon_factory(lr: float) -> Factory:
    """The ``muon`` genome (``torch.optim.Muon`` on matrices, Adam elsewhere) at ``lr``: its
    matrix step is scaled to AdamW's update RMS, so it is tuned on AdamW's grid."""
    return genome_factory(REGISTRY["muon"].genome.model_copy(update={"lr_log10": math.log10(lr)}))


def adamw_schedule_factory(lr: float) -> Factory:
    """AdamW at ``lr`` with linear warmup over the first 10% of the steps, then cosine decay."""

    def make(steps: int) -> OptimizerFactory:
        genome = REGISTRY["adamw"].genome.model_copy(update={
            "lr_log10": math.log10(lr), "use_warmup": True, "warmup_steps": max(1, steps // 10),
            "use_cosine_decay": True,
        })  # fmt: skip
        return genome_factory(genome)(steps)

    return make


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


def fitness_of(task: str, factory: Factory, seed: int, steps: int, split: str) -> tuple[float, float]:
    """(fitness, score) of one member; a divergence or failure is (-1, 0)."""
    runtime = TASKS[task].runtime("", split, torch.device("cpu"))
    outcome = train_sequential(runtime, factory(steps), seed, steps)
    if outcome.status != "ok" or outcome.accuracy is None:
        return DIVERGED_FITNESS, 0.0
    return seed_fitness(outcome.accuracy, mean_last_losses(outcome.losses)), outcome.accuracy


def tune(
    task: str, grid: Sequence[float], make: Callable[[float], Factory], steps: int, tune_seeds: int
) -> dict:
    """The grid point with the best mean validation fitness over the tuning seeds (ties: first)."""
    means = {
        f"{x:g}": statistics.fmean(
            fitness_of(task, make(x), TUNE_SEED0 + s, steps, "val")[0] for s in range(tune_seeds)
        )
        for x in grid
    }
    pick = max(means, key=lambda k: (means[k], -list(means).index(k)))
    index = list(means).index(pick)
    return {"pick": float(pick), "edge": index in (0, len(grid) - 1), "grid_mean_val_fitness": means}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("entries", nargs="*", default=[], help="registry names of candidate optimizers")
    parser.add_argument("--export", action="append", default=[], metavar="FILE.py:CLASS")
    parser.add_argument("--run", help="also the rank-1 evolved genome of this stored run (needs --db)")
    parser.add_argument("--db", default="sqlite:///runs/evo.db", help="store of --run")
    parser.add_argument(
        "--pick", choices=("search", "raw", "search_recentred"), default="search",
        help="--run's ranking (training only)",
    )
    parser.add_argument("--tasks", default=",".join(DEFAULT_TASKS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--steps", type=int, help=f"default: the run's evaluation.steps, else {DEFAULT_STEPS}"
    )
    parser.add_argument("--tune-seeds", type=int, default=2)
    parser.add_argument("--out", default="generalization", help="writes benchmarks/results/OUT.json, .md")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    tasks = [t for t in args.tasks.split(",") if t]
    unknown = [t for t in tasks if t not in TASKS] + [e for e in args.entries if e not in REGISTRY]
    if unknown:
        raise SystemExit(f"error: unknown task or entry: {', '.join(unknown)}")
    candidates: dict[str, Factory] = {name: registry_factory(name) for name in args.entries}
    genomes: dict[str, Genome] = {
        n: REGISTRY[n].genome for n in args.entries if REGISTRY[n].genome is not None
    }
    candidates |= {spec.rpartition(":")[2]: export_factory(spec) for spec in args.export}
    steps, picked = args.steps or DEFAULT_STEPS, None
    if args.run:
        from generalization_pick import pick

        genome, train_fitness, run_steps, settings = pick(args.run, args.db, args.pick)
        steps = args.steps or run_steps
        name = f"{args.run}_rank1"
        candidates[name], genomes[name] = genome_factory(genome), genome
        picked = {"name": name, "hash": genome.hash, "describe": genome.describe(),
                  "training_fitness": train_fitness, **settings}  # fmt: skip
        print(
            f"{name} = {genome.hash} (training fitness {train_fitness:.4f}, {args.pick}): {genome.describe()}"
        )
    if not candidates:
        raise SystemExit("error: name at least one candidate (registry name or --export FILE.py:CLASS)")

    started = time.perf_counter()
    tuned: dict[str, dict] = {}
    fitness: dict[str, dict[tuple[str, int], float]] = {}
    scores: dict[str, dict[tuple[str, int], float]] = {}
    wall: dict[str, float] = {}
    for task in tasks:
        t0 = time.perf_counter()
        tuned[task] = {
            "adamw_tuned": tune(task, LR_GRID, adamw_factory, steps, args.tune_seeds),
            "adamw_schedule_tuned": tune(task, LR_GRID, adamw_schedule_factory, steps, args.tune_seeds),
            "muon_tuned": tune(task, LR_GRID, muon_factory, steps, args.tune_seeds),
        }
        picks = {name: tuned[task][name]["pick"] for name in tuned[task]}
        entries = {**candidates, "adamw": registry_factory("adamw"),
                   "adamw_tuned": adamw_factory(picks["adamw_tuned"]),
                   "adamw_schedule_tuned": adamw_schedule_factory(picks["adamw_schedule_tuned"]),
                   "muon_tuned": muon_factory(picks["muon_tuned"])}  # fmt: skip
        for name, genome in genomes.items():

            def scaled(m: float, g: Genome = genome) -> Factory:
                return genome_factory(scaled_genome(g, m))

            tuned[task][f"{name}_tuned"] = tune(task, GENOME_MULTS, scaled, steps, args.tune_seeds)
            entries[f"{name}_tuned"] = scaled(tuned[task][f"{name}_tuned"]["pick"])
        for name, factory in entries.items():
            for seed in range(args.seeds):
                f, s = fitness_of(task, factory, seed, steps, "test")
                fitness.setdefault(name, {})[(task, seed)] = f
                scores.setdefault(name, {})[(task, seed)] = s
        wall[task] = time.perf_counter() - t0
        picks = ", ".join(
            f"{k} {v['pick']:g}{' (edge)' if v['edge'] else ''}" for k, v in tuned[task].items()
        )
        print(f"{task}: {picks}; {wall[task]:.0f} s", flush=True)

    pairs = [(c, "adamw_tuned") for c in candidates]
    pairs += [(f"{c}_tuned", "adamw_tuned") for c in genomes]
    pairs += [(c, "adamw") for c in candidates]
    pairs += [(c, "adamw_schedule_tuned") for c in candidates]
    pairs += [(c, "muon_tuned") for c in candidates]
    pairs += [(f"{c}_tuned", "muon_tuned") for c in genomes]
    rows, comparisons, lines = [], {}, []
    for cand, base in pairs:
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
            interval = f"[{s.ci_low:+.4f}, {s.ci_high:+.4f}]" if s.testable else "n < 5: not tested"
            rows.append([cand, base, task, mean_a, mean_b, s.mean_diff, interval,
                         f"{s.wins}/{s.ties}/{s.losses}", s.sign_p])  # fmt: skip
    total = time.perf_counter() - started
    headers = ["candidate", "vs", "task", "candidate fitness", "baseline fitness", "mean diff", "95% CI",
               "W/T/L", "sign p"]  # fmt: skip
    tuned_names = list(next(iter(tuned.values()))) if tuned else []
    tuned_rows = [
        [t, *(f"{v[n]['pick']:g}{' (edge)' if v[n]['edge'] else ''}" for n in tuned_names), f"{wall[t]:.0f}"]
        for t, v in tuned.items()
    ]
    unit = {n: "lr" if n.startswith(("adamw", "muon")) else "lr multiplier" for n in tuned_names}
    tuned_headers = ["task", *(f"{n}: {unit[n]}" for n in tuned_names), "task wall s (tuning + all entries)"]
    pick_line = (
        f"Rank-1 of run `{args.run}` by training fitness only (`--pick {args.pick}`: "
        f"lr_multipliers {picked['lr_multipliers']}, lr_aggregate {picked['lr_aggregate']}, normalize "
        f"{picked['normalize']}; training tasks {', '.join(picked['tasks'])}): `{picked['hash'][:10]}` "
        f"(training fitness {picked['training_fitness']:.4f}): {picked['describe']}"
        + (
            f"; its lr re-centring factor on the training tasks (evo.search.lr_recentre) "
            f"{picked['training_lr_centre']:.3g}"
            + (" (the candidate: the genome, lr times that)" if picked.get("recentred_by") else "")
            if picked.get("training_lr_centre") is not None
            else ""
        )
        if picked
        else ""
    )
    markdown = "\n\n".join(p for p in [
        "# Generalization: paired comparison on the task families",
        f"{args.seeds} seeds (paired: same init and batches), {steps} steps, fitness on the test split "
        f"(score + 0.05 loss bonus, -1 diverged). Tuned against tuned, per task on the validation split over "
        f"{args.tune_seeds} other seeds: AdamW picks its lr from {list(LR_GRID)}, each genome candidate "
        f"(`NAME_tuned`) its lr multiplier from {list(GENOME_MULTS)}; `NAME` is the candidate at its own lr, "
        f"`adamw` is AdamW at lr 1e-3, `adamw_schedule_tuned` AdamW with 10% linear warmup and cosine decay "
        f"at its tuned lr (same grid). Total wall time {total:.0f} s (1 torch thread).",
        pick_line, "\n".join(lines), markdown_table(headers, rows), markdown_table(tuned_headers, tuned_rows),
    ] if p)  # fmt: skip
    payload = {
        "seeds": args.seeds, "steps": steps, "tasks": tasks, "lr_grid": list(LR_GRID),
        "genome_multipliers": list(GENOME_MULTS), "tune_seeds": args.tune_seeds, "picked": picked,
        "tuned": tuned, "comparisons": comparisons, "wall_s": {"total": total, **wall},
        "fitness": {e: {f"{t}/{s}": v for (t, s), v in values.items()} for e, values in fitness.items()},
        "score": {e: {f"{t}/{s}": v for (t, s), v in values.items()} for e, values in scores.items()},
    }  # fmt: skip
    json_path, md_path = write_results(args.out, payload, markdown)
    print(markdown)
    print(f"wrote {json_path} and {md_path}")


if __name__ == "__main__":
    main()
