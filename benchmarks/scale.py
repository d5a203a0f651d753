"""Driver and store overhead at scale: does it stay constant per evaluation?

Part 1, runs: a cheap job (the 10 landscape tasks, 5 ``*_direct`` points and 5
``*_overparam`` MLP9s, 3 steps, one seed, 50 genomes per request, no fixed entries) with
populations 50, 200 and 1000 for 2 generations on the inline executor (so no Ray; Ray's
share is measured on ``configs/quick.yaml``, see ``evo show quick``). From each generation's
stored breakdown (:mod:`evo.runner.timing`): driver + store seconds = wall - training,
per evaluation trained in that generation. The slope of that figure against the population
(least squares, seconds per evaluation per 1000 members) says whether it stays flat.

Part 2, ``evo best`` on a big store: a synthetic run of 100 generations x 100 genomes x 10
tasks x 1 seed = 100k evaluations written through the Store API (random genomes, random
fitness), then ``evo best RUN --top 10`` is timed, best of 3: in-process (the CLI's own code
path, imports already done) and as a user runs it, ``python -m evo best`` in a fresh process
(start-up and imports included). With ``--baseline DIR`` the fresh-process command also runs
with another checkout's code (e.g. the main worktree), alternating with this one's, on the
same store; both outputs must be identical. The SQLite file size is reported per 10k
evaluations for this store and for the part-1 stores.

Usage::

    python benchmarks/scale.py                       # populations 50 200 1000, 100k rows
    python benchmarks/scale.py --sizes 50 200 --evaluations 20000
    python benchmarks/scale.py --best-only --baseline ../evo-old

Writes ``benchmarks/results/scale.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from evo.cli.app import main as evo_main  # noqa: E402
from evo.config.schema import parse_config  # noqa: E402
from evo.execution.inline import InlineExecutor  # noqa: E402
from evo.runner.driver import Driver, create_run  # noqa: E402
from evo.search.operators import random_genome  # noqa: E402
from storage import Store  # noqa: E402
from storage.records import EvaluationIn, IndividualIn, RunScope  # noqa: E402
from workers.process import configure_worker_process  # noqa: E402
from workers.tasks.landscapes import LANDSCAPES  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
TASKS = [f"{name}_{kind}" for kind in ("direct", "overparam") for name in LANDSCAPES]


def scale_config(population: int, generations: int, steps: int) -> dict:
    return {
        "name": f"scale{population}",
        "seed": 3,
        "tasks": TASKS,
        "evaluation": {"steps": steps, "seeds": [0], "genomes_per_request": 50, "device": "cpu"},
        "population": {
            "size": population,
            "elites": max(1, population // 10),
            "tournament_k": 3,
            "generations": generations,
        },
        "fixed_entries": [],
        "executor": {"kind": "inline", "max_retries": 0},
    }


def run_population(directory: Path, population: int, generations: int, steps: int) -> dict:
    """One run; per-generation overhead per evaluation and the store's size."""
    path = directory / f"scale{population}.db"
    cfg = parse_config(scale_config(population, generations, steps))
    counts: list[int] = []

    class Count:
        def __init__(self) -> None:
            self.n = 0

    with Store(f"sqlite:///{path}") as store:
        run = create_run(store, cfg, f"scale{population}")
        recorded = Count()
        batched = store.record_evaluations

        def record(rows):
            recorded.n += len(rows)
            return batched(rows)

        store.record_evaluations = record  # counts the evaluations trained per generation
        from evo.runner.events import RunObserver

        class PerGeneration(RunObserver):
            def generation_closed(self, generation, stats, best_so_far) -> None:
                counts.append(recorded.n - sum(counts))

        with InlineExecutor(max_retries=0) as executor:
            Driver(store, run, executor, PerGeneration()).run()
        generations_rows = []
        for g, n in zip(store.generations(run.id), counts, strict=True):
            t = g.timing
            overhead = t["wall_s"] - t["training_s"]
            generations_rows.append(
                {
                    "generation": g.index,
                    "evaluations": n,
                    **t,
                    "driver_store_s": overhead,
                    "driver_store_s_per_evaluation": overhead / n if n else None,
                }
            )
        total = store.count_evaluations() if hasattr(store, "count_evaluations") else sum(counts)
    size = path.stat().st_size
    return {
        "population": population,
        "tasks": len(TASKS),
        "generations": generations_rows,
        "evaluations": total,
        "sqlite_bytes": size,
        "sqlite_mb_per_10k_evaluations": size / 2**20 / (total / 10_000),
    }


def best_process(tree: Path, db: Path) -> tuple[float, float, str]:
    """(wall s, CPU s of the child, stdout) of ``python -m evo best big --top 10`` with ``tree``'s code."""
    import resource
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(tree)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "evo", "best", "big", "--db", f"sqlite:///{db}", "--top", "10"],
        cwd=tree, env=env, capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def time_processes(db: Path, trees: dict[str, Path], repeats: int = 3) -> dict:
    """Fresh-process ``evo best`` per tree, alternating, best of ``repeats``."""
    out: dict[str, dict] = {name: {"wall_s": [], "cpu_s": []} for name in trees}
    printed: dict[str, str] = {}
    for r in range(repeats):
        for name, tree in reversed(trees.items()) if r % 2 else trees.items():
            wall, cpu, stdout = best_process(tree, db)
            out[name]["wall_s"].append(wall)
            out[name]["cpu_s"].append(cpu)
            printed[name] = stdout
    if len(set(printed.values())) != 1:
        raise RuntimeError("evo best printed different tables with the two trees")
    for row in out.values():
        row["best_wall_s"] = min(row["wall_s"])
    return out


def synthetic_store(
    path: Path, evaluations: int, population: int = 100, seed: int = 0, baseline: Path | None = None
) -> dict:
    """A run of ``evaluations`` rows (``population`` genomes x 10 tasks x 1 seed per generation)."""
    rng = np.random.default_rng(seed)
    budget = "steps=3;split=val;v1"
    per_generation = population * len(TASKS)
    generations = max(1, evaluations // per_generation)
    started = time.perf_counter()
    with Store(f"sqlite:///{path}") as store:
        run = store.create_run(
            "big",
            scale_config(population, generations, 3),
            seed,
            RunScope(tasks=TASKS, seeds=[0], budget_key=budget),
        )
        for g in range(generations):
            genomes = [random_genome(rng) for _ in range(population)]
            store.save_generation(
                run.id,
                g,
                [
                    IndividualIn(slot=i, entry_key=x.hash, genome=x, origin="init", parents=[])
                    for i, x in enumerate(genomes)
                ],
            )
            rows = [
                EvaluationIn(
                    entry_key=x.hash,
                    task=t,
                    seed=0,
                    budget_key=budget,
                    status="ok",
                    fitness=float(rng.uniform(0, 1)),
                    metrics={"accuracy": float(rng.uniform(0, 1)), "final_loss": 0.1, "steps_done": 3},
                    worker="synthetic",
                    device="cpu",
                    wall_time_s=0.01,
                )
                for x in genomes
                for t in TASKS
            ]
            for lo in range(0, len(rows), 500):
                store.record_evaluations(rows[lo : lo + 500])
            store.close_generation(run.id, g, 1.0, 0.5, 0.1, ga_state={"generation": g + 1})
    build_s = time.perf_counter() - started
    rows = generations * per_generation
    timings, cpu = [], []
    for _ in range(3):
        t, c = time.perf_counter(), time.process_time()
        with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):
            evo_main(["best", "big", "--db", f"sqlite:///{path}", "--top", "10"])
        timings.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        if "big" not in out.getvalue() and not out.getvalue().strip():
            raise RuntimeError("evo best printed nothing")
    size = path.stat().st_size
    trees = {"this": ROOT} | ({"baseline": baseline.resolve()} if baseline else {})
    load = os.getloadavg()[0]
    processes = time_processes(path, trees)
    return {
        "evaluations": rows,
        "build_s": build_s,
        "evo_best_s": timings,
        "evo_best_best_s": min(timings),
        "evo_best_cpu_s": cpu,
        "evo_best_process": processes,
        "evo_best_process_load_1m_before_after": [round(load, 2), round(os.getloadavg()[0], 2)],
        "sqlite_bytes": size,
        "sqlite_mb_per_10k_evaluations": size / 2**20 / (rows / 10_000),
    }


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y on x."""
    x = np.array([p[0] for p in points], dtype=float)
    y = np.array([p[1] for p in points], dtype=float)
    return float(np.polyfit(x, y, 1)[0]) if len(points) > 1 else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[50, 200, 1000])
    parser.add_argument("--generations", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--evaluations", type=int, default=100_000)
    parser.add_argument(
        "--best-only",
        action="store_true",
        help="Only part 2 (evo best); part 1 is kept from the committed scale.json.",
    )
    parser.add_argument("--baseline", type=Path, help="another checkout whose `evo best` is timed too")
    args = parser.parse_args(argv)
    configure_worker_process(1)
    load_before = os.getloadavg()[0]
    previous = json.loads((RESULTS / "scale.json").read_text()) if args.best_only else None
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        runs = previous["runs"] if previous else []
        for size in [] if previous else args.sizes:
            row = run_population(directory, size, args.generations, args.steps)
            runs.append(row)
            for g in row["generations"]:
                print(
                    f"P={size:5d} gen {g['generation']}: {g['evaluations']:6d} evaluations, wall "
                    f"{g['wall_s']:.1f} s, driver+store {g['driver_store_s']:.2f} s = "
                    f"{1e3 * g['driver_store_s_per_evaluation']:.3f} ms/evaluation",
                    flush=True,
                )
        big = synthetic_store(directory / "big.db", args.evaluations, baseline=args.baseline)
        print(
            f"evo best on {big['evaluations']} evaluations: {big['evo_best_best_s']:.3f} s (best of 3); "
            f"{big['sqlite_mb_per_10k_evaluations']:.2f} MB per 10k evaluations",
            flush=True,
        )
    command = "python benchmarks/scale.py " + " ".join(argv or sys.argv[1:])
    if previous:
        result = {**previous, "evo_best": big}
        result["meta"] = {**previous["meta"], "evo_best_command": command.strip()}
        result["meta"]["evo_best_load_average_1m_before_after"] = [
            round(load_before, 2),
            round(os.getloadavg()[0], 2),
        ]
        args.steps, args.generations = result["meta"]["steps"], result["meta"]["generations"]
    else:
        result = _result(args, runs, big, load_before, command)
    md = _markdown(result, args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "scale.md").write_text(md)
    print("\n" + md)
    return 0


def _result(args: argparse.Namespace, runs: list[dict], big: dict, load_before: float, command: str) -> dict:
    # the warm (last) generation of each run: generation 0 also pays first-call costs
    warm = [(r["population"], r["generations"][-1]["driver_store_s_per_evaluation"]) for r in runs]
    return {
        "meta": {
            "torch": torch.__version__,
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
            "load_average_1m_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "tasks": TASKS,
            "steps": args.steps,
            "generations": args.generations,
            "executor": "inline",
            "command": command,
        },
        "runs": runs,
        "warm_driver_store_s_per_evaluation": warm,
        "slope_s_per_evaluation_per_1000_members": 1000 * slope(warm),
        "evo_best": big,
    }


def _markdown(result: dict, args: argparse.Namespace) -> str:
    runs, big = result["runs"], result["evo_best"]
    best_command = result["meta"].get("evo_best_command", result["meta"]["command"]).strip()
    cpu = big.get("evo_best_cpu_s")
    lines = [
        "| population | evaluations (warm gen) | wall s | training s | driver + store s | ms / evaluation"
        " | SQLite MB / 10k evaluations |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        g = r["generations"][-1]
        lines.append(
            f"| {r['population']} | {g['evaluations']} | {g['wall_s']:.1f} | {g['training_s']:.1f} | "
            f"{g['driver_store_s']:.2f} | {1e3 * g['driver_store_s_per_evaluation']:.3f} | "
            f"{r['sqlite_mb_per_10k_evaluations']:.2f} |"
        )
    return (
        f"# Driver + store overhead at scale\n\n`{result['meta']['command'].strip()}`; "
        f"{len(TASKS)} landscape tasks, {args.steps} steps, 1 seed, inline executor, "
        f"warm generation = the last of {args.generations}; "
        f"1-minute load {result['meta']['load_average_1m_before_after']} (shared machine).\n\n"
        + "\n".join(lines)
        + f"\n\nSlope of driver + store ms per evaluation against the population: "
        f"{1e3 * result['slope_s_per_evaluation_per_1000_members']:.3f} ms per 1000 members.\n\n"
        f"`evo best` on a store of {big['evaluations']} evaluations (`{best_command}`): "
        f"{big['evo_best_best_s']:.3f} s wall (best of 3: "
        f"{', '.join(f'{t:.3f}' for t in big['evo_best_s'])})"
        + (f", CPU {', '.join(f'{t:.3f}' for t in cpu)} s" if cpu else "")
        + f"; SQLite {big['sqlite_bytes'] / 2**20:.1f} MB = "
        f"{big['sqlite_mb_per_10k_evaluations']:.2f} MB per 10k evaluations.\n" + _process_lines(big)
    )


def _process_lines(big: dict) -> str:
    processes = big.get("evo_best_process")
    if not processes:
        return ""
    lines = [
        "",
        "`python -m evo best big --top 10` in a fresh process (start-up and imports included), best of 3, "
        f"alternating, 1-minute load {big['evo_best_process_load_1m_before_after']}:",
        "",
        "| code | wall s (best) | wall s (all) | CPU s (all) |",
        "|---|---:|---:|---:|",
    ]
    for name, row in processes.items():
        lines.append(
            f"| {name} | {row['best_wall_s']:.3f} | {', '.join(f'{t:.3f}' for t in row['wall_s'])} | "
            f"{', '.join(f'{t:.3f}' for t in row['cpu_s'])} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
