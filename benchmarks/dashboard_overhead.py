"""Does ``evo dashboard`` slow a running driver? Its generation wall time with and without readers.

One driver run (inline executor: the driver's own process trains and writes the store) goes
on while ``evo dashboard`` serves the same SQLite file. ``--clients`` page pollers read the
API as open run pages do (the run's new generations every ``--refresh`` seconds, its ranking
and paired statistics at every closed generation) in alternating blocks of ``--block``
generations: on, off, on, off, ... A generation counts as *watched* when the pollers were on
for at least 80% of it and as *alone* when for at most 20% (the server then idles: it
reads nothing unless asked). Alternating blocks within one run put the shared machine's slow
spells on both sides alike, which separate runs (minutes apart) do not.

Reported: the median generation wall time (the driver's own stored clock, ``evo show RUN``;
generation 0 left out, it also scores the fixed entries) watched / alone, the same for the
time in store calls (a reader that blocked the writer would show there), the dashboard's CPU
time over the driver's, and the noise: the same median ratio between the alone blocks of
odd and of even position (no dashboard difference at all).

Usage::

    python benchmarks/dashboard_overhead.py --generations 48 --block 4 --clients 2 --refresh 0.5

Writes ``benchmarks/results/dashboard_overhead_{clients}x{refresh}s.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import resource
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dashboard_common import ROOT, PagePoller, cpu_seconds, evo, start_dashboard, stop

from storage import Store

RESULTS = ROOT / "benchmarks" / "results"


def job(generations: int) -> dict:
    return {
        "seed": 5,
        "tasks": ["qubic_1d_direct", "two_moons"],
        "evaluation": {"steps": 30, "seeds": [0, 1], "genomes_per_request": 3, "device": "cpu"},
        "population": {"size": 6, "elites": 1, "tournament_k": 2, "generations": generations},
        "fixed_entries": ["adam", "sgd_momentum"],
        "executor": {"kind": "inline", "max_retries": 0},
    }


class Watchers:
    """The pollers, switched on for blocks of generations; records when they were on."""

    def __init__(self, base: str, clients: int, refresh_s: float) -> None:
        self.pollers = [PagePoller(base, "bench", refresh_s) for _ in range(clients)]
        self.on = threading.Event()
        self.done = threading.Event()
        self.spans: list[tuple[datetime, datetime]] = []
        self.threads = [threading.Thread(target=self._poll, args=(p,)) for p in self.pollers]
        for thread in self.threads:
            thread.start()

    def _poll(self, poller: PagePoller) -> None:
        while not self.done.is_set():
            if not self.on.wait(0.05):
                continue
            started = time.monotonic()
            with contextlib.suppress(OSError):  # the server is going down at the end
                poller.tick()
            self.done.wait(max(0.0, poller.refresh_s - (time.monotonic() - started)))

    def switch(self, on: bool) -> None:
        if on and not self.on.is_set():
            self.spans.append((datetime.now(UTC), datetime.max.replace(tzinfo=UTC)))
            self.on.set()
        elif not on and self.on.is_set():
            self.on.clear()
            self.spans[-1] = (self.spans[-1][0], datetime.now(UTC))

    def close(self) -> None:
        self.switch(False)
        self.done.set()
        for thread in self.threads:
            thread.join()


def block_of(index: int, block: int) -> int:
    """The on / off block of generation ``index`` (>= 1): blocks 0, 2, ... alone, 1, 3, ... watched."""
    return (index - 1) // block


def watched_state(start: datetime, end: datetime, spans: list[tuple[datetime, datetime]]) -> bool | None:
    """True: pollers on for >= 80% of [start, end] (they switch within 0.1 s of a generation's
    start); False: on for <= 20% of it; None: in between."""
    on = sum(max(0.0, (min(end, b) - max(start, a)).total_seconds()) for a, b in spans)
    share = on / max((end - start).total_seconds(), 1e-9)
    return True if share >= 0.8 else False if share <= 0.2 else None


def measure(folder: Path, config: Path, args: argparse.Namespace) -> dict:
    url = f"sqlite:///{folder / 'evo.db'}"
    Store(url).close()  # the schema, so that the dashboard can open the file before the run starts
    server, base = start_dashboard(url, args.refresh)
    watchers = Watchers(base, args.clients, args.refresh)
    driver, store = None, Store(url, read_only=True)
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        driver = evo("run", str(config), "--db", url, "--name", "bench")
        while driver.poll() is None:  # generation i (running while i are closed) watched in odd blocks
            closed = max((p.generations_done for p in store.run_progress().values()), default=0)
            watchers.switch(closed >= 1 and block_of(closed, args.block) % 2 == 1)
            time.sleep(0.1)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the driver, reaped; not the server
        driver_cpu = sum(getattr(after, f) - getattr(before, f) for f in ("ru_utime", "ru_stime"))
        server_cpu = cpu_seconds(server.pid)
        if driver.returncode != 0:
            raise RuntimeError(f"evo run failed ({driver.returncode}): {driver.stderr.read()[-2000:]}")
    finally:
        watchers.close()
        stop(server)
        stop(driver)
    generations = store.generations("bench")
    store.close()
    rows = []
    for previous, g in itertools.pairwise(generations):
        state = watched_state(previous.completed_at, g.completed_at, watchers.spans)
        timing = g.timing or {}
        row = {"index": g.index, "watched": state, "wall_s": timing["wall_s"], "store_s": timing["store_s"]}
        rows.append(row)
    return {"generations": rows, "driver_cpu_s": driver_cpu, "dashboard_cpu_s": server_cpu,
            "api_requests": sum(p.requests for p in watchers.pollers)}  # fmt: skip


def ratio(rows: list[dict], key: str, top: list[dict]) -> float:
    return statistics.median(r[key] for r in top) / statistics.median(r[key] for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=48)
    parser.add_argument("--block", type=int, default=4, help="Generations per on / off block.")
    parser.add_argument("--clients", type=int, default=2, help="Open run pages polling the API.")
    parser.add_argument("--refresh", type=float, default=0.5, help="Seconds between a page's re-reads.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "job.yaml"
        config.write_text(yaml.safe_dump(job(args.generations)))
        result = measure(Path(tmp), config, args)
    rows = result["generations"]
    watched = [r for r in rows if r["watched"] is True]
    alone = [r for r in rows if r["watched"] is False]
    odd = [r for r in alone if block_of(r["index"], args.block) % 4 == 0]  # every other alone block
    even = [r for r in alone if block_of(r["index"], args.block) % 4 == 2]
    summary = {
        "watched_generations": len(watched), "alone_generations": len(alone),
        "median_wall_watched_s": statistics.median(r["wall_s"] for r in watched),
        "median_wall_alone_s": statistics.median(r["wall_s"] for r in alone),
        "wall_ratio": ratio(alone, "wall_s", watched), "store_ratio": ratio(alone, "store_s", watched),
        "noise_ratio_alone_blocks": ratio(even, "wall_s", odd) if odd and even else None,
        "dashboard_cpu_over_driver_cpu": result["dashboard_cpu_s"] / result["driver_cpu_s"],
        "api_requests": result["api_requests"],
    }  # fmt: skip
    print("| generations watched / alone | median s/gen watched | alone | watched / alone | store time "
          "watched / alone | noise: alone / alone | dashboard CPU / driver CPU | API requests |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    noise = summary["noise_ratio_alone_blocks"]
    print(f"| {len(watched)} / {len(alone)} | {summary['median_wall_watched_s']:.3f} | "
          f"{summary['median_wall_alone_s']:.3f} | {summary['wall_ratio']:.3f} | "
          f"{summary['store_ratio']:.3f} | "
          f"{'-' if noise is None else f'{noise:.3f}'} | {summary['dashboard_cpu_over_driver_cpu']:.3f} | "
          f"{summary['api_requests']} |")  # fmt: skip
    out = RESULTS / f"dashboard_overhead_{args.clients}x{args.refresh:g}s.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/dashboard_overhead.py " + " ".join(sys.argv[1:])
    payload = {"command": command, "settings": vars(args), "summary": summary, **result}
    out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
