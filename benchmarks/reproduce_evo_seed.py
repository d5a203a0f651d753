"""Reproduce seed 003 (evolutionary optimizer discovery): the published comparison.

The seed scores SGD (momentum), Adam, AdamW, RMSProp and its evolved genome with 1000
training steps per task and seeds 0, 1, 2 on Fashion-MNIST, CIFAR-10 and MNIST (fitness =
test accuracy + 0.05 max(0, 1 - mean of the last 50 losses); overall = mean over tasks).

1. Vision: when ``--data-dir`` holds the three data sets, the comparison runs through the
   real command ``evo compare configs/seed_vision.yaml evaluation.steps=1000
   evaluation.seeds=[0,1,2] evaluation.selection_split=test`` (the seed scored the test
   split), on CPU actors when there is no GPU; the numbers are then read back from the same
   store. Missing data sets are reported one line each (the command's own message) and the
   vision part is skipped.
2. Offline: the same entries, budget and seeds on the tasks that need no files (digits,
   two_moons and the five direct landscapes; ``--tasks all`` adds the five overparameterised
   ones), through :func:`evo.runner.compare.score_fixed` (what ``evo compare`` runs) on two local Ray
   CPU actors (``--executor inline`` for one process) and a temporary store.

Usage: ``.venv/bin/python benchmarks/reproduce_evo_seed.py [--data-dir ./data] [--tasks ...]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from repro_common import markdown_table, write_results

from evo.config.schema import load_config
from evo.execution import make_executor
from evo.runner.compare import score_fixed
from optimizers.errors import EvoError
from storage import Store
from workers import check_data
from workers.tasks.registry import TASKS

ROOT = Path(__file__).resolve().parents[1]
VISION = ["fashion_mnist", "cifar10", "mnist"]
ENTRIES = ["sgd_momentum", "adam", "adamw", "rmsprop", "evo_seed_best"]
LANDSCAPES = sorted(n for n, t in TASKS.items() if t.kind == "landscape")
OFFLINE = ["digits", "two_moons", *(n for n in LANDSCAPES if n.endswith("_direct"))]
"""Default offline tasks (24 s on the 2-core machine, 2 Ray actors). ``--tasks all`` adds the
five overparameterised landscapes (an MLP9 per member; 106 s for all twelve tasks)."""
ALL_OFFLINE = ["digits", "two_moons", *LANDSCAPES]
BUDGET = ["evaluation.steps=1000", "evaluation.seeds=[0,1,2]", "evaluation.selection_split=test"]
SEED_README = {  # overall, fashion_mnist, cifar10, mnist (seed README section 5)
    "sgd_momentum": (0.7596, 0.8250, 0.4642, 0.9896),
    "rmsprop": (0.8546, 0.9304, 0.5980, 1.0353),
    "adamw": (0.8698, 0.9283, 0.6453, 1.0358),
    "adam": (0.8775, 0.9296, 0.6669, 1.0360),
    "evo_seed_best": (0.8987, 0.9493, 0.7080, 1.0387),
}


def missing_vision_data(data_dir: str) -> dict[str, str]:
    """Task -> the one-line MissingDataError message, for each absent vision data set."""
    missing = {}
    for task in VISION:
        try:
            check_data([task], data_dir)
        except EvoError as exc:
            missing[task] = " ".join(str(exc).split())
    return missing


def cpu_overrides() -> list[str]:
    """Run seed_vision.yaml's comparison on CPU actors when this machine has no GPU."""
    if torch.cuda.is_available():
        return []
    return ["evaluation.device=cpu", "executor.gpus_per_actor=0", "executor.num_actors=2"]


def evo_compare(config: str, overrides: list[str], db: str) -> subprocess.CompletedProcess[str]:
    """The real ``evo compare`` command (its table and errors go to the console)."""
    command = [sys.executable, "-m", "evo", "compare", config, *overrides, "--db", db]
    print("$ evo compare", config, " ".join(overrides), "--db", db, flush=True)
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    return subprocess.run(command, cwd=ROOT, env=env, text=True, capture_output=True, check=False)


def ranked(store: Store, config: str, overrides: list[str]) -> list[dict[str, Any]]:
    """The fixed entries' scores from the store (cache hits after ``evo compare``)."""
    cfg = load_config(ROOT / config, overrides)
    with make_executor(cfg.executor) as executor:
        entries = score_fixed(store, cfg, executor)
    return [
        {"entry": e.label or e.entry_key, "fitness": e.fitness, "per_task": e.per_task,
         "complete": e.complete}
        for e in entries
    ]


def vision(data_dir: str, db: str) -> dict[str, Any]:
    missing = missing_vision_data(data_dir)
    overrides = [*BUDGET, f"data.dir={data_dir}", *cpu_overrides()]
    if missing:
        for task, message in missing.items():
            print(f"missing data for {task}: {message}")
        done = evo_compare("configs/seed_vision.yaml", overrides, db)
        print(f"evo compare exit code {done.returncode}: {done.stderr.strip()}")
        return {"missing": missing, "evo_compare_exit_code": done.returncode,
                "evo_compare_stderr": done.stderr}
    began = time.perf_counter()
    done = evo_compare("configs/seed_vision.yaml", overrides, db)
    print(done.stdout)
    if done.returncode != 0:
        raise SystemExit(f"evo compare failed ({done.returncode}): {done.stderr.strip()}")
    with Store(db) as store:
        return {"missing": {}, "seconds": time.perf_counter() - began,
                "entries": ranked(store, "configs/seed_vision.yaml", overrides)}


def offline(tasks: list[str], db: str, executor: str) -> dict[str, Any]:
    overrides = [
        *BUDGET, f"tasks={tasks}", f"fixed_entries={ENTRIES}", f"executor.kind={executor}",
        "executor.num_actors=2", "executor.cpus_per_actor=1", "evaluation.device=cpu",
    ]
    began = time.perf_counter()
    with Store(db) as store:
        entries = ranked(store, "configs/quick.yaml", overrides)
    return {"tasks": tasks, "seconds": time.perf_counter() - began, "entries": entries}


def vision_table(result: dict[str, Any]) -> str:
    if result["missing"]:
        lines = [f"- {task}: {message.split(' (missing')[0]}" for task, message in result["missing"].items()]
        return "Vision comparison not run: data sets missing.\n\n" + "\n".join(lines)
    ours = {e["entry"]: e for e in result["entries"]}
    rows = []
    for name, (overall, *per_task) in SEED_README.items():
        mine = ours.get(name, {"fitness": None, "per_task": {}})
        cells = [
            f"{s:.4f} / {mine['per_task'].get(t, float('nan')):.4f}"
            for s, t in zip(per_task, VISION, strict=True)
        ]
        rows.append([name, f"{overall:.4f} / {mine['fitness']:.4f}", *cells])
    return markdown_table(["entry (seed / ours)", "overall", *VISION], rows)


def offline_table(result: dict[str, Any]) -> str:
    tasks = result["tasks"]
    rows = [[e["entry"], e["fitness"], *(e["per_task"].get(t) for t in tasks)] for e in result["entries"]]
    return markdown_table(["entry", "overall", *tasks], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="./data")
    parser.add_argument("--tasks", nargs="*", default=OFFLINE, help="offline tasks, or 'all'")
    parser.add_argument("--executor", choices=("ray", "inline"), default="ray",
                        help="offline comparison executor (ray: 2 local CPU actors)")
    parser.add_argument("--skip-vision", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="evo_seed_") as folder:
        vision_result = None if args.skip_vision else vision(args.data_dir, f"sqlite:///{folder}/vision.db")
        tasks = ALL_OFFLINE if args.tasks == ["all"] else list(args.tasks)
        offline_result = offline(tasks, f"sqlite:///{folder}/offline.db", args.executor)

    ranking = [e["entry"] for e in offline_result["entries"]]
    seed_ranking = sorted(SEED_README, key=lambda k: -SEED_README[k][0])
    text = "### Evolutionary optimizer (seed 003): 1000 steps, seeds 0-2, test split\n\n"
    if vision_result is not None:
        text += f"Vision (seed README / ours):\n\n{vision_table(vision_result)}\n\n"
    text += (
        f"Offline tasks (ours; {offline_result['seconds']:.0f} s):\n\n{offline_table(offline_result)}\n\n"
        f"Seed ranking (vision): {' > '.join(seed_ranking)}\n\n"
        f"Our ranking (offline): {' > '.join(ranking)}\n"
    )
    print("\n" + text)
    payload = {"seed_readme": SEED_README, "vision": vision_result, "offline": offline_result}
    names = {tuple(OFFLINE): "evo_seed", tuple(ALL_OFFLINE): "evo_seed_all"}
    name = names.get(tuple(tasks), "evo_seed_custom")
    write_results(name, payload, text)


if __name__ == "__main__":
    main()
