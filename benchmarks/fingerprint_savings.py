"""Share of a stored run's evaluations the functional fingerprint would save (evo.search.dedup).

Replays a finished run's populations (fixed entries, then generations in order) through
:class:`evo.search.dedup.FingerprintIndex` exactly as the driver does with
``evaluation.fingerprint: true`` and counts the distinct entry keys the run trained against
the distinct representatives: every duplicate's |tasks| x |seeds| evaluations are copies
instead of trainings. Writes benchmarks/results/fingerprint_savings.{json,md}.

    PYTHONPATH=. python benchmarks/fingerprint_savings.py sqlite:///runs/evo.db quick
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from evo.search.dedup import FingerprintIndex
from storage import Store
from storage.records import FIXED_GENERATION


def savings(url: str, run_name: str) -> dict:
    store = Store(url)
    run = store.get_run(run_name)
    index = FingerprintIndex()
    started = time.perf_counter()
    fixed = store.individuals(run.id, FIXED_GENERATION)
    index.observe((r.entry_key, r.genome and r.genome.canonical()) for r in fixed)
    generations = [g.index for g in store.generations(run.id)]
    for g in generations:
        index.observe((r.entry_key, r.genome and r.genome.canonical()) for r in store.individuals(run.id, g))
    elapsed = time.perf_counter() - started
    keys = len(index.of_key)
    dups = len(index.duplicates())
    return {
        "run": run_name, "generations": len(generations), "genome_keys": keys, "duplicates": dups,
        "share_saved": dups / keys if keys else 0.0, "fingerprint_s": elapsed,
        "duplicate_pairs": sorted(index.duplicates().items()),
    }


def main() -> None:
    url, name = sys.argv[1], sys.argv[2]
    result = savings(url, name)
    out = Path(__file__).parent / "results"
    (out / "fingerprint_savings.json").write_text(json.dumps(result, indent=2))
    (out / "fingerprint_savings.md").write_text(
        "| run | generations | genome keys | duplicates | evaluations saved | fingerprint time |\n"
        "|---|---|---|---|---|---|\n"
        f"| {name} | {result['generations']} | {result['genome_keys']} | {result['duplicates']} | "
        f"{result['share_saved']:.1%} | {result['fingerprint_s']:.2f} s |\n"
    )
    print(json.dumps({k: v for k, v in result.items() if k != "duplicate_pairs"}))


if __name__ == "__main__":
    main()
