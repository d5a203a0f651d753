"""The sequential and population loops against a plain PyTorch loop, interleaved in one process.

``throughput.py`` measures each cell in its own process (peak memory); on a loaded shared
machine its ratios swing with the load. Here the paths of ``throughput.py`` (``plain``,
``seq_adamw``, ``population`` at P members) and two sequential ones run interleaved in one
process, ``--rounds`` times: in a round the one-model-at-a-time paths take turns member by
member (seed 0 on every path, then seed 1, ..., the order rotating), then the population
trains its P members in one burst. Each path's ratio to the plain loop is the median over
rounds of (plain time / path time) per model-step, so slow spells of a shared machine hit
every path alike. The sequential paths train the ``adam`` genome:

* ``sequential``: with the optimizer the worker builds for a genome entry
  (``workers.evaluate``: ``GenomeOptimizer(foreach=False)``, the exact formulation whose
  numbers the population path reproduces bit for bit);
* ``sequential_fast``: with ``GenomeOptimizer``'s default (``foreach=None``: the eager fast
  formulation a user of an exported optimizer gets).

Usage::

    python benchmarks/loop_overhead.py --tasks digits two_moons --members 16 --rounds 7

Writes ``benchmarks/results/loop_overhead.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.throughput import _adamw, train_plain  # noqa: E402
from benchmarks.throughput import _train as _train_throughput  # noqa: E402
from optimizers.baselines import ADAM  # noqa: E402
from optimizers.genome_optimizer import GenomeOptimizer  # noqa: E402
from workers.evaluate import _optimizer_factory  # noqa: E402
from workers.requests import EntrySpec  # noqa: E402
from workers.sequential import train_sequential  # noqa: E402
from workers.tasks.registry import TASKS  # noqa: E402

PATHS = ("plain", "seq_adamw", "sequential", "sequential_fast", "population")
ONE_BY_ONE = PATHS[:-1]
COLUMNS = (
    "plain AdamW",
    "evo loop + AdamW",
    "evo sequential (adam genome)",
    "evo sequential, fast formulation",
    "evo population",
)


def _member(runtime, path: str, seed: int, steps: int) -> None:
    """Train member ``seed`` on a one-model-at-a-time path."""
    if path == "plain":
        train_plain(runtime, seed, steps)
        return
    if path == "seq_adamw":
        make = _adamw
    elif path == "sequential":  # the worker's own factory: the exact formulation
        make = _optimizer_factory(EntrySpec.of_genome(ADAM), steps)
    else:
        make = lambda p, _g: GenomeOptimizer(p, ADAM, total_steps=steps)  # noqa: E731
    outcome = train_sequential(runtime, make, seed, steps)
    if outcome.status == "failed":
        raise RuntimeError(outcome.error)


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
"""Wall time, and the process's CPU time (blind to the time slices other processes take)."""


def _round(runtime, members: int, steps: int) -> dict[str, dict[str, float]]:
    """Seconds per clock and path for ``members`` members of ``steps`` steps (see the module
    docstring)."""
    seconds = {clock: dict.fromkeys(PATHS, 0.0) for clock in CLOCKS}

    def timed(path: str, work) -> None:
        start = {clock: read() for clock, read in CLOCKS.items()}
        work()
        for clock, read in CLOCKS.items():
            seconds[clock][path] += read() - start[clock]

    for seed in range(members):
        shift = seed % len(ONE_BY_ONE)
        for path in ONE_BY_ONE[shift:] + ONE_BY_ONE[:shift]:
            timed(path, lambda path=path, seed=seed: _member(runtime, path, seed, steps))
    timed("population", lambda: _train_throughput(runtime, "population", members, steps))
    return seconds


RESULTS = ROOT / "benchmarks" / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["digits", "two_moons"])
    parser.add_argument("--members", type=int, default=16)
    parser.add_argument("--steps", type=int, default=40, help="steps per member per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tag", default="", help="suffix of the result files' names (after a '_')")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for task in args.tasks:
        runtime = TASKS[task].runtime("./data", "val", torch.device("cpu"))
        _round(runtime, 2, 3)  # warm-up
        ratios: dict[str, list[float]] = {p: [] for p in PATHS}
        cpu_ratios: dict[str, list[float]] = {p: [] for p in PATHS}
        rates: dict[str, list[float]] = {p: [] for p in PATHS}
        for _ in range(args.rounds):
            seconds = _round(runtime, args.members, args.steps)
            wall, cpu = seconds["wall"], seconds["cpu"]
            for path in PATHS:
                rates[path].append(args.members * args.steps / wall[path])
                ratios[path].append(wall["plain"] / wall[path])
                cpu_ratios[path].append(cpu["plain"] / cpu[path])
        row = {
            "task": task,
            "P": args.members,
            "steps": args.steps,
            "median_ratio_vs_plain": {p: statistics.median(r) for p, r in ratios.items()},
            "ratios": ratios,
            "median_model_steps_per_s": {p: statistics.median(r) for p, r in rates.items()},
            "median_cpu_time_ratio_vs_plain": {p: statistics.median(r) for p, r in cpu_ratios.items()},
            "cpu_time_ratios": cpu_ratios,
        }
        rows.append(row)
        print(task, {p: round(v, 2) for p, v in row["median_ratio_vs_plain"].items()}, flush=True)
    lines = ["| task | P | " + " | ".join(COLUMNS) + " |", "|---|---:|" + "---:|" * len(COLUMNS)]
    for r in rows:
        cells = [
            f"{r['median_model_steps_per_s'][p]:.0f}/s ({r['median_ratio_vs_plain'][p]:.2f}x)" for p in PATHS
        ]
        lines.append(f"| {r['task']} | {r['P']} | " + " | ".join(cells) + " |")
    cpu_lines = ["| task | P | " + " | ".join(COLUMNS) + " |", "|---|---:|" + "---:|" * len(COLUMNS)]
    for r in rows:
        cells = [f"{r['median_cpu_time_ratio_vs_plain'][p]:.2f}x" for p in PATHS]
        cpu_lines.append(f"| {r['task']} | {r['P']} | " + " | ".join(cells) + " |")
    command = "python benchmarks/loop_overhead.py " + " ".join(argv if argv is not None else sys.argv[1:])
    md = (f"# Loops against a plain PyTorch loop (interleaved, median of {args.rounds} rounds)\n\n"
          f"`{command}`; "
          f"1 thread; 1-minute load {os.getloadavg()[0]:.1f} at the end (shared 2-core machine).\n\n"
          + "\n".join(lines) + "\n\n"
          "By the process's CPU time (`time.process_time`: blind to the time slices other "
          "processes of a loaded machine take), plain time / path time per model-step, median "
          "over rounds:\n\n" + "\n".join(cpu_lines) + "\n")  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "_" + args.tag.lstrip("_") if args.tag else ""
    (RESULTS / f"loop_overhead{suffix}.json").write_text(
        json.dumps({"command": command, "rows": rows}, indent=2) + "\n"
    )
    (RESULTS / f"loop_overhead{suffix}.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
