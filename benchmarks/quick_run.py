"""The embedded default run, measured: ``evo run configs/quick.yaml`` end to end.

Runs the real console script in a subprocess (its own local Ray cluster, as ``make run``)
and samples, every ``--interval`` seconds, the memory of the driver's whole process tree
(driver, Ray's GCS/raylet/dashboard-agent processes, the evaluation actors):

* ``peak_rss_mb``: the largest sum of RSS over the tree (counts shared pages, e.g. torch's
  libraries, once per process: an upper bound);
* ``peak_pss_mb``: the largest sum of PSS (shared pages split between their users: what
  the tree really costs the machine);
* ``wall_s``: the command's wall time, Ray start-up and shutdown included.

Then it reads the finished run back from the store: best fitness per generation, and the
best evolved entry against every fixed entry (overall and per task).

Run: ``RAY_AUTH_MODE=disabled .venv/bin/python benchmarks/quick_run.py [overrides ...]``.
Writes ``benchmarks/results/quick_run.json`` and ``.md``; the database goes to a temporary
folder (``--db`` to keep it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
EVO = Path(sys.executable).with_name("evo")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


def _descendants(pid: int) -> list[int]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(tree.get(p, []))
    return found


def _memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in kB; zeros if it is gone."""
    values: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:  # "Rss:   123456 kB" (the first line is the address range)
                key, sep, rest = line.partition(":")
                if sep and rest.strip().endswith("kB"):
                    values[key] = int(rest.split()[0])
    except (OSError, ValueError):
        return 0, 0
    return values.get("Rss", 0), values.get("Pss", 0)


class TreeSampler(threading.Thread):
    """Samples the summed RSS and PSS of a process tree until stopped."""

    def __init__(self, pid: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_rss_kb = self.peak_pss_kb = self.peak_processes = 0
        self.samples = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            pids = _descendants(self.pid)
            rss = pss = 0
            for p in pids:
                r, s = _memory_kb(p)
                rss, pss = rss + r, pss + s
            self.peak_rss_kb = max(self.peak_rss_kb, rss)
            self.peak_pss_kb = max(self.peak_pss_kb, pss)
            self.peak_processes = max(self.peak_processes, len(pids))
            self.samples += 1
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def summarize(url: str, name: str) -> dict:
    from evo.evidence.ranking import best
    from storage import Store

    with Store(url) as store:
        run = store.get_run(name)
        generations = [
            {"generation": g.index, "best": g.best_fitness, "mean": g.mean_fitness}
            for g in store.generations(run.id)
        ]
        ranked = best(store, run.id, top_k=None)
    evolved = [e for e in ranked if not e.is_fixed]
    fixed = [e for e in ranked if e.is_fixed]

    def row(e) -> dict:
        return {"rank": e.rank, "entry": e.label or e.entry_key, "fitness": e.fitness, "per_task": e.per_task}

    return {
        "status": run.status,
        "tasks": run.scope.tasks,
        "generations": generations,
        "best_evolved": row(evolved[0]) if evolved else None,
        "fixed": [row(e) for e in fixed],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="config overrides key=value")
    parser.add_argument("--config", default=str(ROOT / "configs" / "quick.yaml"))
    parser.add_argument("--db", default=None, help="SQLAlchemy URL (default: a temporary SQLite file)")
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="quick_run_")
    url = args.db or f"sqlite:///{tmp}/quick.db"
    name = f"quick-bench-{int(time.time())}"
    cmd = [str(EVO), "run", args.config, "--db", url, "--name", name, *args.overrides]
    env = {**os.environ, "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled")}
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    sampler = TreeSampler(proc.pid, args.interval)
    sampler.start()
    output = proc.communicate()[0]
    wall = time.perf_counter() - started
    sampler.stop()
    print(output)
    if proc.returncode != 0:
        raise SystemExit(f"evo run failed with exit code {proc.returncode}")

    result = {
        "command": " ".join(cmd[1:]),
        "machine": {
            "cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()
        },
        "load_average_after": os.getloadavg(),
        "wall_s": round(wall, 1),
        "peak_rss_mb": round(sampler.peak_rss_kb / 1024),
        "peak_pss_mb": round(sampler.peak_pss_kb / 1024),
        "peak_processes": sampler.peak_processes,
        "memory_samples": sampler.samples,
        **summarize(url, name),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "quick_run.json").write_text(json.dumps(result, indent=2))

    lines = [
        "# quick.yaml end to end",
        "",
        f"`evo {result['command']}` on {result['machine']['cpus']} CPUs "
        f"(load average after the run: {', '.join(f'{x:.1f}' for x in result['load_average_after'])})",
        "",
        "| wall time | peak RSS (tree) | peak PSS (tree) | processes |",
        "|---|---|---|---|",
        f"| {result['wall_s']} s | {result['peak_rss_mb']} MB | {result['peak_pss_mb']} MB "
        f"| {result['peak_processes']} |",
        "",
        "| generation | best | mean |",
        "|---|---|---|",
        *(f"| {g['generation']} | {g['best']:.4f} | {g['mean']:.4f} |" for g in result["generations"]),
        "",
        "| entry | fitness | " + " | ".join(result["tasks"]) + " |",
        "|---|---|" + "---|" * len(result["tasks"]),
    ]
    best = result["best_evolved"]
    for entry in ([best] if best else []) + result["fixed"]:
        label = entry["entry"] if entry is not best else f"best evolved ({entry['entry'][:10]})"
        cells = " | ".join(f"{entry['per_task'].get(t, float('nan')):.4f}" for t in result["tasks"])
        lines.append(f"| {label} | {entry['fitness']:.4f} | {cells} |")
    table = "\n".join(lines) + "\n"
    (RESULTS / "quick_run.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
