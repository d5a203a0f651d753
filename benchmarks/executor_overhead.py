"""What the Ray executor costs per request, and what queueing the next item early buys.

Work is synthetic so that only the executor is measured: each request's evaluate function
sleeps ``ms`` milliseconds (0 = pure dispatch) and returns a one-member result. Every
configuration gets warm actors (started, one warm-up map) before its timed map. Columns:

* ``wall_s``: the timed ``map_unordered`` over all requests;
* ``ideal_s``: ``n * ms / actors`` (the sleep alone, perfectly spread);
* ``overhead_ms``: ``(wall_s - ideal_s) / n * actors``, the time an actor is not sleeping
  per request: round trip through Ray, (de)serialisation, driver bookkeeping;
* ratios, measured in the same run: 2 requests in flight per actor (one queued behind the
  running one, the default) against 1, and 2 actors against 1.

Run: ``RAY_AUTH_MODE=disabled .venv/bin/python benchmarks/executor_overhead.py [--n 200]``.
Writes ``benchmarks/results/executor_overhead.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

from evo.execution.executor import Executor
from evo.execution.inline import InlineExecutor
from evo.execution.ray_pool import RayExecutor
from evo.execution.ray_session import ensure_ray
from optimizers.baselines import BASELINE_GENOMES
from workers.requests import EntrySpec, EvalRequest, EvalResult, MemberResult

RESULTS = Path(__file__).parent / "results"
GENOME = next(iter(BASELINE_GENOMES.values()))


def sleeping_evaluate(request: EvalRequest) -> EvalResult:
    """Sleep ``request.steps`` ms; one ok member. (Pickled by value: defined in __main__.)"""
    time.sleep(request.steps / 1000)
    member = MemberResult(entry_key=request.entries[0].key, seed=request.seeds[0], status="ok", fitness=0.5)
    return EvalResult(request_id=request.request_id, task=request.task, budget_key=request.budget_key,
                      members=[member], worker=str(os.getpid()), device="cpu", path="sequential",
                      wall_time_s=request.steps / 1000)


def requests(n: int, ms: int, prefix: str) -> list[EvalRequest]:
    """``n`` requests sleeping ``ms`` ms each (``steps >= 1``: "0 ms" sleeps 1 ms)."""
    entry = EntrySpec.of_genome(GENOME)
    return [EvalRequest(request_id=f"{prefix}{i}", entries=[entry], task="synthetic", seeds=[0],
                        steps=max(ms, 1), device="cpu") for i in range(n)]


def timed(make: Callable[[], Executor], n: int, ms: int, actors: int) -> dict[str, float]:
    with make() as executor:
        list(executor.map_unordered(requests(4 * actors, ms, "warm")))
        work = requests(n, ms, "r")
        started = time.perf_counter()
        outcomes = list(executor.map_unordered(work))
        wall = time.perf_counter() - started
    assert len(outcomes) == n and all(o.ok for o in outcomes)
    ideal = n * max(ms, 1) / 1000 / actors
    return {"wall_s": wall, "ideal_s": ideal, "overhead_ms": (wall - ideal) / n * actors * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="requests per timed map")
    parser.add_argument("--ms", type=int, nargs="+", default=[0, 20], help="evaluate sleep per request")
    args = parser.parse_args()
    ensure_ray(None)

    def ray(actors: int, in_flight: int) -> Callable[[], Executor]:
        return lambda: RayExecutor(num_actors=actors, cpus_per_actor=1.0, evaluate=sleeping_evaluate,
                                   in_flight_per_actor=in_flight)

    configs: dict[str, tuple[Callable[[], Executor], int]] = {
        "inline": (lambda: InlineExecutor(evaluate=sleeping_evaluate), 1),
        "ray 1 actor, 1 in flight": (ray(1, 1), 1),
        "ray 1 actor, 2 in flight": (ray(1, 2), 1),
        "ray 2 actors, 1 in flight": (ray(2, 1), 2),
        "ray 2 actors, 2 in flight": (ray(2, 2), 2),
    }
    rows: list[dict] = []
    for ms in args.ms:
        for name, (make, actors) in configs.items():
            row = {"config": name, "ms": max(ms, 1), "n": args.n, **timed(make, args.n, ms, actors)}
            rows.append(row)
            timing = f"wall {row['wall_s']:7.3f} s  ideal {row['ideal_s']:6.3f} s"
            overhead = f"overhead {row['overhead_ms']:6.2f} ms/request/actor"
            print(f"{name:28s} {row['ms']:>4d} ms  {timing}  {overhead}", flush=True)

    def wall(name: str, ms: int) -> float:
        return next(r["wall_s"] for r in rows if r["config"] == name and r["ms"] == max(ms, 1))

    ratios = {}
    for ms in args.ms:
        ratios[f"{max(ms, 1)}ms: 2 vs 1 in flight, 1 actor (speed-up)"] = (
            wall("ray 1 actor, 1 in flight", ms) / wall("ray 1 actor, 2 in flight", ms))
        ratios[f"{max(ms, 1)}ms: 2 vs 1 in flight, 2 actors (speed-up)"] = (
            wall("ray 2 actors, 1 in flight", ms) / wall("ray 2 actors, 2 in flight", ms))
        ratios[f"{max(ms, 1)}ms: 2 actors vs 1 (speed-up)"] = (
            wall("ray 1 actor, 2 in flight", ms) / wall("ray 2 actors, 2 in flight", ms))
        ratios[f"{max(ms, 1)}ms: ray 1 actor vs inline (slow-down)"] = (
            wall("ray 1 actor, 2 in flight", ms) / wall("inline", ms))
    print()
    for key, value in ratios.items():
        print(f"{key:48s} {value:5.2f}x")

    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"machine": platform.platform(), "cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0]}
    report = {"meta": meta, "rows": rows, "ratios": ratios}
    (RESULTS / "executor_overhead.json").write_text(json.dumps(report, indent=2))
    lines = ["| config | ms/request | wall s | ideal s | overhead ms/request/actor |", "|---" * 5 + "|"]
    lines += [
        f"| {r['config']} | {r['ms']} | {r['wall_s']:.3f} | {r['ideal_s']:.3f} | {r['overhead_ms']:.2f} |"
        for r in rows
    ]
    lines += ["", "| ratio (same run) | value |", "|---|---|"]
    lines += [f"| {k} | {v:.2f}x |" for k, v in ratios.items()]
    lines += ["", f"{meta['machine']}, {meta['cpus']} CPUs, 1-min load average {meta['load_avg_1m']:.1f}"]
    (RESULTS / "executor_overhead.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
