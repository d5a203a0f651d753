"""Cost of the search mechanisms of issue 15 on the quick config's tasks (inline, one process).

Runs the quick job (configs/quick.yaml: 4 tasks, 200 steps, 2 seeds, population 12) for
``--generations`` generations through the inline executor on fresh SQLite stores, once per
setting, and reports trained evaluations (rows not copied by the fingerprint), copies, wall
time and the final best fitness:

* ``default``: the quick run as shipped;
* ``lr x3``: ``evaluation.lr_multipliers: [0.3, 1, 3]`` (``lr_aggregate: best``);
* ``grid``: ``fixed_lr_grid: [0.1, 0.3, 1, 3, 10]`` (tuned fixed entries);
* ``fingerprint``: ``evaluation.fingerprint: true``.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/search_mechanisms.py --generations 2

Writes benchmarks/results/search_mechanisms.{json,md}; ratios are from one run each.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from evo.config.schema import load_config
from evo.execution.inline import InlineExecutor
from evo.runner.driver import Driver, create_run
from evo.runner.events import RunObserver
from evo.search.dedup import REUSED_WORKER
from storage import Store

SETTINGS = {
    "default": [],
    "lr x3": ["evaluation.lr_multipliers=[0.3, 1, 3]"],
    "grid": ["fixed_lr_grid=[0.1, 0.3, 1, 3, 10]"],
    "fingerprint": ["evaluation.fingerprint=true"],
}


class Count(RunObserver):
    def __init__(self) -> None:
        self.trained = 0

    def evaluation_recorded(self, row) -> None:
        self.trained += 1


def measure(overrides: list[str], generations: int, folder: Path) -> dict:
    cfg = load_config(
        Path(__file__).parents[1] / "configs" / "quick.yaml",
        [*overrides, f"population.generations={generations}", "executor.kind=inline"],
    )
    store = Store(f"sqlite:///{folder / 'evo.db'}")
    run = create_run(store, cfg, "bench")
    count = Count()
    started = time.perf_counter()
    with InlineExecutor(max_retries=0) as executor:
        final = Driver(store, run, executor, count).run()
    wall = time.perf_counter() - started
    keys = [e.entry_key for e in store.run_entries(run.id)]
    copies = sum(1 for r in store.evaluations(keys, cfg.budget_key) if r.worker == REUSED_WORKER)
    return {"trained": count.trained, "copied": copies, "wall_s": wall, "best_fitness": final.best_fitness}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--generations", type=int, default=2)
    parser.add_argument("--only", nargs="*", default=list(SETTINGS))
    args = parser.parse_args()
    results = {}
    for name in args.only:
        with tempfile.TemporaryDirectory() as tmp:
            results[name] = measure(SETTINGS[name], args.generations, Path(tmp))
        print(name, json.dumps(results[name]), flush=True)
    base = results.get("default")
    lines = [
        f"# Search mechanisms: quick.yaml, {args.generations} generations, inline, one process",
        "",
        "| setting | trained evaluations | copied (fingerprint) | wall time | x default | GA best fitness |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        ratio = f"{r['wall_s'] / base['wall_s']:.2f}" if base else "-"
        cells = [name, r["trained"], r["copied"], f"{r['wall_s']:.1f} s", ratio, f"{r['best_fitness']:.4f}"]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    out = Path(__file__).parent / "results"
    payload = {"generations": args.generations, **results}
    (out / "search_mechanisms.json").write_text(json.dumps(payload, indent=2))
    (out / "search_mechanisms.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
