"""Where a quick run's generations spend their wall time, this tree against another (interleaved).

Runs ``evo run configs/quick.yaml`` (2 Ray actors) end to end in a subprocess with each code
tree on ``PYTHONPATH`` (this checkout, and ``--baseline DIR``, e.g. the main worktree),
alternating ``--rounds`` times so that both see the same machine load, then reads each
run's stored breakdown (``generations.timing``, :mod:`evo.runner.timing`) and its best
fitness. The overhead share of a generation is ``1 - training / (actors x wall)``; a
generation >= 1 has warm actors. The baseline's own definition of wall time is used for its
runs (main's started each generation's clock at its ``ask``; this tree's runs from the
previous generation's breakdown, a little longer).

Run: ``RAY_AUTH_MODE=disabled python benchmarks/quick_generation_timing.py --baseline ../evo-old``.
Writes ``benchmarks/results/quick_generation_timing.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"


def one_run(tree: Path, db: Path) -> dict:
    """``evo run configs/quick.yaml`` with ``tree``'s code; its generations' timings."""
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "RAY_AUTH_MODE": "disabled"}
    load = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "evo", "run", str(ROOT / "configs" / "quick.yaml"), "--db", f"sqlite:///{db}"],
        cwd=tree, env=env, capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"evo run failed in {tree}: {done.stderr[-2000:]}")
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "SELECT generation, timing, best_fitness FROM generations ORDER BY generation"
        ).fetchall()
    con.close()
    generations = [{"generation": g, **json.loads(t)} for g, t, _ in rows]
    return {
        "tree": str(tree),
        "load_average_1m_before_after": [round(load, 2), round(os.getloadavg()[0], 2)],
        "command_wall_s": wall,
        "best_fitness": max(b for _, _, b in rows),
        "generations": generations,
        "warm_overhead_share": [g["overhead_share"] for g in generations if g["generation"] >= 1],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--baseline", type=Path, help="another checkout to run alternately (a git worktree of an old commit)"
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--tag", default="")
    args = parser.parse_args(argv)
    trees = {"this": ROOT} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    runs: dict[str, list[dict]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name, tree in reversed(trees.items()) if r % 2 else trees.items():
                row = one_run(tree, Path(tmp) / f"{name}{r}.db")
                runs[name].append(row)
                shares = ", ".join(f"{100 * s:.0f}%" for s in row["warm_overhead_share"])
                print(f"round {r} {name}: best {row['best_fitness']:.4f}, warm overhead {shares}, "
                      f"load {row['load_average_1m_before_after']}", flush=True)  # fmt: skip
    result = {
        "command": "python benchmarks/quick_generation_timing.py " + " ".join(argv or sys.argv[1:]),
        "config": "configs/quick.yaml (2 Ray actors, 1 CPU each)",
        "cpu_count": os.cpu_count(),
        "runs": runs,
    }
    suffix = f"_{args.tag}" if args.tag else ""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"quick_generation_timing{suffix}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"quick_generation_timing{suffix}.md").write_text(markdown(result))
    print(markdown(result))
    return 0


def markdown(result: dict) -> str:
    lines = [
        "# Quick run: where each generation's wall time goes",
        "",
        f"`{result['command'].strip()}`; {result['config']}, {result['cpu_count']} CPUs (shared machine).",
        "Overhead share = 1 - training / (actors x wall): Ray, driver, store, GA and idle workers.",
        "",
        "| tree | round | load 1m (before, after) | best | gen | wall s | training s | overhead |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for name, rows in result["runs"].items():
        for r, row in enumerate(rows):
            for g in row["generations"]:
                lines.append(
                    f"| {name} | {r} | {row['load_average_1m_before_after']} | {row['best_fitness']:.4f} | "
                    f"{g['generation']} | {g['wall_s']:.2f} | {g['training_s']:.2f} | "
                    f"{100 * g['overhead_share']:.1f}% |"
                )
    lines += ["", "| tree | mean warm overhead (generations >= 1) | max warm overhead |", "|---|---:|---:|"]
    for name, rows in result["runs"].items():
        shares = [s for row in rows for s in row["warm_overhead_share"]]
        lines.append(f"| {name} | {100 * sum(shares) / len(shares):.1f}% | {100 * max(shares):.1f}% |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
