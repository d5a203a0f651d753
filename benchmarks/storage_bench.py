"""Store throughput: recording evaluations, and the queries a run and ``evo best`` make.

Measured on a SQLite file (WAL, synchronous=NORMAL, the store's settings) and, when a URL is
given (``--postgres-url`` or ``EVO_TEST_POSTGRES_URL``), on PostgreSQL, in the same run:

* ``record 1 per tx``: N evaluations, one ``record_evaluation`` (one transaction) each, as
  the driver records rows today;
* ``record 24 per tx``: the same N in ``record_evaluations`` batches of 24 (one work item:
  8 genomes x 3 seeds) — the ratio says what batching per result would buy;
* ``re-record (cache hits)``: the N again, every call a no-op returning False (resume);
* ``save_generation``: a 50-individual population (+ genomes), per call;
* ``missing_evaluations``: a 50-individual generation against the N stored rows;
* ``best``: ranking a run of G generations x 50 individuals (every entry evaluated).

Ratios are taken within one run; absolute times depend on the machine and its load.
Run: ``.venv/bin/python benchmarks/storage_bench.py [--n 10000] [--postgres-url URL]``.
Writes ``benchmarks/results/storage_bench.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evo.evidence.ranking import best
from optimizers.genome import Genome, Term
from storage import EvaluationIn, IndividualIn, RunScope, Store
from storage.testing import POSTGRES_ENV, postgres_schema_url

RESULTS = Path(__file__).parent / "results"
SCOPE = RunScope(tasks=["mnist", "fashion_mnist"], seeds=[0, 1, 2], budget_key="steps=1000;split=val;v1")
POPULATION = 50
BATCH = 24


def genome(i: int) -> Genome:
    return Genome(term_types=(Term.ADAM_TERM, Term.SIGN_GRAD), alphas=(1.0, 0.5), lr_log10=-3.0 - i * 1e-5)


def evaluation(key: str, task: str, seed: int) -> EvaluationIn:
    return EvaluationIn(
        entry_key=key,
        task=task,
        seed=seed,
        budget_key=SCOPE.budget_key,
        fitness=0.9,
        status="ok",
        metrics={"accuracy": 0.88, "final_loss": 0.31, "mean_last_losses": 0.35, "steps_done": 1000},
        worker="bench",
        device="cpu",
        wall_time_s=1.25,
    )


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def measure(url: str, n: int, generations: int) -> dict[str, float]:
    """Seconds per operation (or for the whole N) on one fresh database."""
    store = Store(url)
    rows = [evaluation(f"k{i // 6:06d}", SCOPE.tasks[i % 2], (i // 2) % 3) for i in range(n)]
    batched = [evaluation(f"b{i // 6:06d}", SCOPE.tasks[i % 2], (i // 2) % 3) for i in range(n)]
    out: dict[str, float] = {}
    out["record 1 per tx (total s)"] = timed(lambda: [store.record_evaluation(r) for r in rows])
    out["record 24 per tx (total s)"] = timed(
        lambda: [store.record_evaluations(batched[i : i + BATCH]) for i in range(0, n, BATCH)]
    )
    out["re-record, cache hits (total s)"] = timed(lambda: [store.record_evaluation(r) for r in rows])

    run = store.create_run("bench", {}, 1, SCOPE)
    saves = []
    for g in range(generations):
        population = [
            IndividualIn(slot=s, entry_key=x.hash, genome=x, origin="init" if g == 0 else "mutation")
            for s, x in ((s, genome(g * POPULATION + s)) for s in range(POPULATION))
        ]
        saves.append(timed(lambda g=g, population=population: store.save_generation(run.id, g, population)))
        missing = store.missing_evaluations(run.id, g)
        store.record_evaluations([evaluation(*m) for m in missing])
    out["save_generation, 50 (s/call)"] = sum(saves) / len(saves)
    out["missing_evaluations, 50 (s/call)"] = min(
        timed(lambda: store.missing_evaluations(run.id, 0)) for _ in range(5)
    )
    out[f"best over {generations * POPULATION} entries (s/call)"] = min(
        timed(lambda: best(store, run.id, top_k=10)) for _ in range(3)
    )
    store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="evaluations to record")
    parser.add_argument("--generations", type=int, default=20, help="generations of 50 in the ranked run")
    parser.add_argument(
        "--postgres-url", default=os.environ.get(POSTGRES_ENV), help="PostgreSQL URL (optional)"
    )
    args = parser.parse_args()

    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        results["sqlite"] = measure(f"sqlite:///{Path(folder) / 'bench.db'}", args.n, args.generations)
    if args.postgres_url:
        with postgres_schema_url(args.postgres_url) as url:
            results["postgresql"] = measure(url, args.n, args.generations)

    backends = list(results)
    metrics = list(results["sqlite"])
    lines = [
        f"Store throughput, N = {args.n} evaluations ({platform.node()}, {os.cpu_count()} CPUs; one run).",
        "",
        "| operation | " + " | ".join(backends) + " |",
        "|---|" + "---|" * len(backends),
    ]
    for metric in metrics:
        lines.append(f"| {metric} | " + " | ".join(f"{results[b][metric]:.4g}" for b in backends) + " |")
    ratios: dict[str, float] = {}
    for b in backends:
        r = results[b]
        ratios[f"{b}: record 1/tx vs 24/tx"] = (
            r["record 1 per tx (total s)"] / r["record 24 per tx (total s)"]
        )
        ratios[f"{b}: record 1/tx vs cache hit"] = (
            r["record 1 per tx (total s)"] / r["re-record, cache hits (total s)"]
        )
        ratios[f"{b}: evaluations recorded per second (1/tx)"] = args.n / r["record 1 per tx (total s)"]
    if "postgresql" in results:
        ratios["postgresql vs sqlite: record 1/tx time"] = (
            results["postgresql"]["record 1 per tx (total s)"]
            / results["sqlite"]["record 1 per tx (total s)"]
        )
    lines += ["", "| ratio | value |", "|---|---|"] + [f"| {k} | {v:.3g} |" for k, v in ratios.items()]
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    payload = {
        "n": args.n,
        "generations": args.generations,
        "population": POPULATION,
        "batch": BATCH,
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "seconds": results,
        "ratios": ratios,
    }
    (RESULTS / "storage_bench.json").write_text(json.dumps(payload, indent=2) + "\n")
    (RESULTS / "storage_bench.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
