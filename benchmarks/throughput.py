"""Training throughput of the two worker paths against a plain PyTorch loop.

For each model of the task registry (SmallCNN, the CIFAR CNN, the digits MLP, the two_moons
MLP, the MLP9 and the direct point of ``rastrigin_*``) and each population size P in
(1, 8, 32), P members (seeds 0..P-1) are trained for a few steps

* ``plain``: the loop a user would write, the 1.00x column: ``torch.optim.AdamW(lr=1e-3,
  weight_decay=1e-4)`` (what the ``adam`` genome computes), batches indexed from the same
  resident data by a per-epoch ``randperm``, ``zero_grad / loss / backward / step``, no
  loss read back; one model after the other;
* ``seq_adamw``: evo's sequential loop (``workers.sequential.train_sequential``: member
  streams, divergence check, loss record, scoring) around the same ``torch.optim.AdamW``,
  which isolates the loop's overhead from the optimizer's;
* sequentially: ``workers.sequential.train_sequential``, one model after the other with the
  worker's own optimizer factory (``GenomeOptimizer(foreach=False)``, the exact formulation
  the worker evaluates genomes with when it does not stack them);
* as a population: ``workers.population.loop.train_population``, stacked parameters and one
  population-wide ``population_update_`` per step (``default_chunk_size`` members per
  forward/backward; plain MLPs on a CPU by ``workers.population.stacked_mlp``).

Each (model, path, P) cell runs in a fresh subprocess so that its peak resident memory
(``ru_maxrss``; on a GPU also ``torch.cuda.max_memory_allocated``) is its own. A cell
trains once for warm-up, then is timed; every cell is measured ``--repeats`` times,
alternating the paths, and the best rate is kept (shared machines are noisy). Image
tasks use synthetic inputs of the real shapes and sizes (15,000 training images) so that
no data files are needed; digits and the landscapes are the real tasks. Every ratio is
against the plain loop of the same run.

Usage::

    python benchmarks/throughput.py                 # all models, P = 1, 8, 32
    python benchmarks/throughput.py --models mlp9 point --sizes 1 8

Writes ``benchmarks/results/throughput_<device>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from optimizers.baselines import ADAM  # noqa: E402
from workers import population as population_module  # noqa: E402
from workers.device import describe_device, resolve_device  # noqa: E402
from workers.evaluate import _optimizer_factory  # noqa: E402
from workers.population.loop import DEFAULT_CHUNK, train_population  # noqa: E402
from workers.process import configure_worker_process  # noqa: E402
from workers.requests import EntrySpec  # noqa: E402
from workers.sequential import train_sequential  # noqa: E402
from workers.tasks.classification_runtime import ClassificationRuntime  # noqa: E402
from workers.tasks.datasets import ClassificationData, load_classification  # noqa: E402
from workers.tasks.registry import TASKS, ClassificationTask  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class Bench:
    """A model to measure: the task it comes from and the model-steps a timed cell trains
    (members x steps; each member takes ``max(2, model_steps // P)`` steps)."""

    name: str
    task: str
    synthetic_shape: tuple[int, ...] | None
    model_steps_cpu: int
    model_steps_gpu: int

    def steps(self, members: int, device: torch.device) -> int:
        budget = self.model_steps_gpu if device.type == "cuda" else self.model_steps_cpu
        return max(2, budget // members)


BENCHES = {
    b.name: b
    for b in (
        Bench("small_cnn", "mnist", (1, 28, 28), 64, 2048),
        Bench("cifar_cnn", "cifar10", (3, 32, 32), 32, 1024),
        Bench("mlp", "digits", None, 1024, 8192),
        Bench("moons_mlp", "two_moons", None, 1024, 8192),
        Bench("mlp9", "rastrigin_overparam", None, 1024, 8192),
        Bench("point", "rastrigin_direct", None, 4096, 16384),
    )
}


def _synthetic_runtime(task: ClassificationTask, shape: tuple[int, ...], device: torch.device):
    """The task's runtime on random inputs of the real shapes (15,000 train, 10 eval)."""
    gen = torch.Generator().manual_seed(0)
    data = ClassificationData(
        x_train=torch.randn(15_000, *shape, generator=gen).to(device),
        y_train=torch.randint(0, 10, (15_000,), generator=gen).to(device),
        x_eval=torch.randn(10, *shape, generator=gen).to(device),
        y_eval=torch.randint(0, 10, (10,), generator=gen).to(device),
        num_classes=10,
        eval_split="val",
        pad_value=torch.zeros(shape[0], device=device),
    )
    return ClassificationRuntime(task.name, task.model_factory, data, task.batch_size, task.augment, device)


def _runtime(bench: Bench, device: torch.device):
    task = TASKS[bench.task]
    if bench.synthetic_shape is not None:
        return _synthetic_runtime(task, bench.synthetic_shape, device)
    if isinstance(task, ClassificationTask):
        data = load_classification(task.dataset, "unused", "val", device)
        small_eval = ClassificationData(
            data.x_train, data.y_train, data.x_eval[:10], data.y_eval[:10], data.num_classes, "val"
        )
        return ClassificationRuntime(
            task.name, task.model_factory, small_eval, task.batch_size, False, device
        )
    return task.runtime("unused", "val", device)


PATHS = ("plain", "seq_adamw", "sequential", "population")


def _adamw(params, _generator=None) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-4)


def train_plain(runtime, seed: int, steps: int) -> None:
    """The plain PyTorch loop (see the module docstring): same model, data and batch size."""
    model = runtime.model_for(seed, runtime.streams(seed)).train()
    optimizer = _adamw(model.parameters())
    if not isinstance(runtime, ClassificationRuntime):  # landscapes: full-batch, no data
        for _ in range(steps):
            optimizer.zero_grad()
            runtime.loss(model, None).backward()
            optimizer.step()
        return
    x_all, y_all = runtime.data.x_train, runtime.data.y_train
    n, size = x_all.shape[0], runtime.batch_size
    generator = torch.Generator(device=x_all.device).manual_seed(seed)
    order, position = None, n
    for _ in range(steps):
        if position >= n:
            order, position = torch.randperm(n, generator=generator, device=x_all.device), 0
        idx = order[position : position + size]
        position += size
        optimizer.zero_grad()
        F.cross_entropy(model(x_all[idx]), y_all[idx]).backward()
        optimizer.step()


def _train(runtime, path: str, members: int, steps: int) -> None:
    if path == "plain":
        for seed in range(members):
            train_plain(runtime, seed, steps)
        return
    if path == "seq_adamw":
        outcomes = [train_sequential(runtime, _adamw, seed, steps) for seed in range(members)]
    elif path == "population":
        outcomes = train_population(runtime, [ADAM] * members, list(range(members)), steps)
    else:
        make = _optimizer_factory(EntrySpec.of_genome(ADAM), steps)  # the worker's own: exact
        outcomes = [train_sequential(runtime, make, seed, steps) for seed in range(members)]
    bad = [o for o in outcomes if o.status == "failed"]
    if bad:
        raise RuntimeError(bad[0].error)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_cell(model: str, path: str, members: int, steps: int, device_spec: str) -> dict:
    """Measure one cell in this process; returns its numbers."""
    device = resolve_device(device_spec)
    bench = BENCHES[model]
    runtime = _runtime(bench, device)
    rss_setup = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    _train(runtime, path, members if path == "population" else 1, 2)  # warm-up: allocator, first calls
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    _sync(device)
    started = time.perf_counter()
    _train(runtime, path, members, steps)
    _sync(device)
    wall = time.perf_counter() - started
    return {
        "model": model,
        "task": bench.task,
        "path": path,
        "P": members,
        "steps": steps,
        "wall_s": wall,
        "model_steps_per_s": members * steps / wall,
        "rss_setup_mb": rss_setup,
        "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "cuda_peak_mb": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None,
    }


def _spawn(
    model: str,
    path: str,
    members: int,
    steps: int,
    device: str,
    timeout: float,
    threads: int | None,
    tune_malloc: bool,
) -> dict:
    cmd = [sys.executable, __file__, "--cell", model, path, str(members), str(steps), "--device", device]
    if threads:
        cmd += ["--threads", str(threads)]
    if tune_malloc:
        cmd.append("--tune-malloc")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"cell {model}/{path}/P={members} failed: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _table(rows: list[dict]) -> str:
    lines = [
        "| model (task) | P | plain AdamW model-steps/s | evo loop + AdamW | evo sequential (adam genome)"
        " | evo population | pop peak RSS MB | pop CUDA peak MB | auto picks |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:  # paths left out by --paths show as "-"
        pop = r.get("population")
        cuda = "-" if pop is None or pop["cuda_peak_mb"] is None else f"{pop['cuda_peak_mb']:.0f}"
        cells = [f"{r['plain']['model_steps_per_s']:.1f} (1.00x)"]
        for path in ("seq_adamw", "sequential", "population"):
            cells.append(
                f"{r[path]['model_steps_per_s']:.1f} ({r['ratio_vs_plain'][path]:.2f}x)" if path in r else "-"
            )
        rss = "-" if pop is None else f"{pop['rss_peak_mb']:.0f}"
        name = f"{r['model']} ({r['task']})"
        lines.append(f"| {name} | {r['P']} | {' | '.join(cells)} | {rss} | {cuda} | {r['auto']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(BENCHES), choices=list(BENCHES))
    parser.add_argument("--sizes", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--paths", nargs="+", default=list(PATHS), choices=PATHS, help="paths to measure (plain always is)"
    )
    parser.add_argument("--tag", default="", help="suffix of the result files' names")
    parser.add_argument("--repeats", type=int, default=2, help="measurements per cell; the best is kept")
    parser.add_argument("--steps-scale", type=float, default=1.0, help="multiply every model's step count")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument(
        "--tune-malloc", action="store_true", help="raise glibc's malloc thresholds (workers.process)"
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per cell")
    parser.add_argument("--cell", nargs=4, metavar=("MODEL", "PATH", "P", "STEPS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    configure_worker_process(args.threads, tune_malloc=args.tune_malloc)
    if args.cell:
        model, path, members, steps = args.cell
        print(json.dumps(run_cell(model, path, int(members), int(steps), args.device)))
        return 0

    device = resolve_device(args.device)
    paths = ["plain", *(p for p in args.paths if p != "plain")]  # the 1.00x column is always measured
    load_before = os.getloadavg()
    rows = []
    for model in args.models:
        bench = BENCHES[model]
        for members in args.sizes:
            steps = max(1, round(bench.steps(members, device) * args.steps_scale))
            best: dict[str, dict] = {}
            for _ in range(args.repeats):
                for path in paths:
                    cell = _spawn(
                        model, path, members, steps, str(device), args.timeout, args.threads, args.tune_malloc
                    )
                    if path not in best or cell["model_steps_per_s"] > best[path]["model_steps_per_s"]:
                        best[path] = cell
            task = TASKS[bench.task]
            auto = "population" if device.type == "cuda" or task.population_on_cpu else "sequential"
            base = best["plain"]["model_steps_per_s"]
            ratios = {p: best[p]["model_steps_per_s"] / base for p in paths}
            row = {"model": model, "task": bench.task, "P": members, "steps": steps, **best, "auto": auto,
                   "ratio_vs_plain": ratios}  # fmt: skip
            rows.append(row)
            print(
                f"{model:10s} P={members:3d}  "
                + "  ".join(
                    f"{p} {best[p]['model_steps_per_s']:8.1f}/s ({row['ratio_vs_plain'][p]:.2f}x)"
                    for p in paths
                ),
                flush=True,
            )

    table = _table(rows)
    print("\n" + table)
    meta = {
        "device": describe_device(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.platform(),
        "repeats": args.repeats,
        "malloc_tuned": args.tune_malloc,
        "cpu_count": os.cpu_count(),
        "load_average_1m_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "population_chunk": {
            "convolutional": DEFAULT_CHUNK.get(device.type, 8),
            "other": getattr(population_module, "CONV_FREE_CHUNK", None),
        },
        "genome": "adam (optimizers.baselines.ADAM); plain and seq_adamw: torch.optim.AdamW(1e-3, wd 1e-4)",
        "note": "model-steps/s = members x steps / wall time; best of `repeats`; ratios from the same run",
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"throughput_{device.type}{'_malloc' if args.tune_malloc else ''}{args.tag}"
    stem.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    header = (
        f"# Worker throughput on {meta['device']}\n\n"
        f"torch {meta['torch']}, {meta['threads']} threads on {meta['cpu_count']} CPUs, "
        f"best of {args.repeats}; "
        f"image inputs synthetic (real shapes); population chunk {meta['population_chunk']} members; "
        f"malloc thresholds {'raised' if args.tune_malloc else 'glibc defaults'}; "
        f"1-minute load average {meta['load_average_1m_before_after'][0]} before, "
        f"{meta['load_average_1m_before_after'][1]} after (other processes share this machine).\n\n"
    )
    stem.with_suffix(".md").write_text(header + table + "\n")
    print(f"\nwrote {stem.with_suffix('.json')} and {stem.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
