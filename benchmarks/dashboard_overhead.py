"""Does ``evo dashboard`` slow a running driver? Generation wall time with and without it.

Each round runs the same small job (inline executor, so the driver's own process does the
training and the store writes) twice into fresh SQLite files, in alternating order: once
alone, once with ``evo dashboard`` serving that file (started before the driver, as a
dashboard left open) and ``--clients`` page pollers reading it every ``--refresh`` seconds
as open run pages do (run list, new generations, and ranking plus paired statistics at
every closed generation). The driver's generation wall time is
its own stored per-generation clock (``evo show RUN``; generation 0 left out: it also scores
the fixed entries). The overhead is the ratio of the medians, with vs without, per round; the
noise is the spread of the same ratio between two runs *without* the dashboard (round r's
alone run against round r+1's), measured in the same session.

Usage::

    python benchmarks/dashboard_overhead.py --rounds 3 --generations 12 --clients 2 --refresh 0.5

Writes ``benchmarks/results/dashboard_overhead.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dashboard_common import ROOT, PagePoller, evo, start_dashboard, stop

from storage import Store

RESULTS = ROOT / "benchmarks" / "results" / "dashboard_overhead.json"


def job(generations: int) -> dict:
    return {
        "seed": 5,
        "tasks": ["qubic_1d_direct", "two_moons"],
        "evaluation": {"steps": 30, "seeds": [0, 1], "genomes_per_request": 3, "device": "cpu"},
        "population": {"size": 6, "elites": 1, "tournament_k": 2, "generations": generations},
        "fixed_entries": ["adam", "sgd_momentum"],
        "executor": {"kind": "inline", "max_retries": 0},
    }


def poll_until(stop_event: threading.Event, poller: PagePoller) -> None:
    while not stop_event.is_set():
        started = time.monotonic()
        with contextlib.suppress(OSError):  # the server is going down at the end
            poller.tick()
        stop_event.wait(max(0.0, poller.refresh_s - (time.monotonic() - started)))


def one_run(folder: Path, config: Path, watched: bool, clients: int, refresh_s: float) -> dict:
    """One driver run into a new database; with ``watched``, the dashboard (started first, on the
    empty store, as one left open) and its pollers on the same file."""
    url = f"sqlite:///{folder / ('watched.db' if watched else 'alone.db')}"
    Store(url).close()  # the schema, so that the dashboard can open the file before the run starts
    driver, server, threads, stop_event, pollers = None, None, [], threading.Event(), []
    try:
        if watched:
            server, base = start_dashboard(url, refresh_s)
            pollers = [PagePoller(base, "bench", refresh_s) for _ in range(clients)]
            threads = [threading.Thread(target=poll_until, args=(stop_event, p)) for p in pollers]
            for thread in threads:
                thread.start()
        driver = evo("run", str(config), "--db", url, "--name", "bench")
        _, err = driver.communicate()
        if driver.returncode != 0:
            raise RuntimeError(f"evo run failed ({driver.returncode}): {err[-2000:]}")
    finally:
        stop_event.set()
        for thread in threads:
            thread.join()
        stop(server)
        stop(driver)
    with Store(url, read_only=True) as store:
        walls = [g.timing["wall_s"] for g in store.generations("bench") if g.index > 0 and g.timing]
    return {"watched": watched, "median_s": statistics.median(walls), "generations": len(walls),
            "api_requests": sum(p.requests for p in pollers)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--generations", type=int, default=12)
    parser.add_argument("--clients", type=int, default=2, help="Open run pages polling the API.")
    parser.add_argument("--refresh", type=float, default=0.5, help="Seconds between a page's re-reads.")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "job.yaml"
        config.write_text(yaml.safe_dump(job(args.generations)))
        for r in range(args.rounds):
            order = (False, True) if r % 2 == 0 else (True, False)
            for watched in order:
                folder = Path(tmp) / f"round{r}-{watched}"
                folder.mkdir()
                result = one_run(folder, config, watched, args.clients, args.refresh)
                rows.append({"round": r, **result})
                print(f"round {r} {'with' if watched else 'without'} dashboard: median generation "
                      f"{result['median_s']:.3f} s over {result['generations']}, {result['api_requests']} "
                      "API requests", flush=True)  # fmt: skip
    by_kind = {(x["round"], x["watched"]): x["median_s"] for x in rows}
    alone = [by_kind[(r, False)] for r in range(args.rounds)]
    watched = [by_kind[(r, True)] for r in range(args.rounds)]
    overhead = [w / a for w, a in zip(watched, alone, strict=True)]
    noise = [b / a for a, b in itertools.pairwise(alone)]
    print("\n| round | without (median s/gen) | with dashboard | with / without |")
    print("|---|---|---|---|")
    for r in range(args.rounds):
        print(f"| {r} | {alone[r]:.3f} | {watched[r]:.3f} | {overhead[r]:.3f} |")
    shown_noise = ", ".join(f"{x:.3f}" for x in noise) or "-"
    print(f"\nmedian with / without: {statistics.median(overhead):.3f}; "
          f"without / without between rounds (noise): {shown_noise}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "command": "python benchmarks/dashboard_overhead.py " + " ".join(sys.argv[1:]),
        "settings": vars(args), "runs": rows, "ratio_with_over_without": overhead,
        "median_ratio": statistics.median(overhead), "noise_ratios_without_over_without": noise,
    }, indent=2))  # fmt: skip
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
