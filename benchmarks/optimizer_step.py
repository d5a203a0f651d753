"""``GenomeOptimizer.step()`` against ``torch.optim.AdamW(foreach=True)``: time and temporaries.

Two model shapes, one CPU thread, fixed random gradients (the step is timed alone, no
forward/backward):

* ``many``: 100 ``Linear(224, 224)`` layers = 200 tensors, 5.04M parameters;
* ``large``: 4 tensors of 2236 x 2236 = 20.0M parameters.

For each shape, AdamW(foreach=True) is run next to three genomes: ``adam`` (one ADAM_TERM),
``evo_seed_best`` (SIGN_GRAD + ADAM_TERM, warmup + cosine) and ``multi`` (GRAD + RMS_NORM +
ADAM_TERM + NESTEROV, clipping). Each genome is paired with its own AdamW on a second copy
of the parameters; the two are stepped alternately (``--warmup`` untimed rounds, then
``--repeat`` timed ones) so that both see the same machine load, and the ratio is of the
two medians from that one run.

Peak temporaries: one step after warm-up runs under a ``TorchDispatchMode``
(:class:`PeakTemporaries`) that sees every ATen op: each output with a new storage counts
its bytes from its creation until the tensor is freed (a ``weakref.finalize``); the largest
running total is the step's peak of tensor memory on top of what existed before it
(parameters, gradients and state are not counted; buffers internal to a kernel are not
tensors and are not seen). The same accounting is applied to AdamW. Reported in MB and as a
multiple of AdamW's.

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/optimizer_step.py --label after``. The
``--label`` names the JSON/markdown files (``optimizer_step_<label>``), so the implementation
before a change can be measured from another tree (``PYTHONPATH=/old/tree``).
"""

from __future__ import annotations

import argparse
import inspect
import json
import platform
import statistics
import time
import weakref
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from optimizers import BASELINE_GENOMES, EVO_SEED_BEST, Genome, GenomeOptimizer

RESULTS = Path(__file__).parent / "results"

MULTI = Genome(
    term_types=[0, 2, 3, 6],
    alphas=[0.1, 0.5, 2.0, 0.3],
    use_gradient_clipping=True,
    clip_value=1.0,
    lr_log10=-3.0,
)
GENOMES = {"adam": BASELINE_GENOMES["adam"], "evo_seed_best": EVO_SEED_BEST, "multi": MULTI}
LOOP = "adam_loop"
"""The ``adam`` genome on the per-tensor loop (``foreach=False``, the CPU default)."""


def make_params(shape: str) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    sizes = [(224, 224), (224,)] * 100 if shape == "many" else [(2236, 2236)] * 4
    params = []
    for size in sizes:
        p = torch.nn.Parameter(torch.randn(*size, generator=gen) * 0.05)
        p.grad = torch.randn(*size, generator=gen) * 1e-2
        params.append(p)
    return params


def build(name: str, params: list[torch.Tensor]) -> torch.optim.Optimizer:
    if name == "adamw_foreach":
        return torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-4, foreach=True)
    kwargs = {"total_steps": 1000}
    if "foreach" in inspect.signature(GenomeOptimizer.__init__).parameters:
        kwargs["foreach"] = name != LOOP  # the multi-tensor path (the old implementation has none)
    return GenomeOptimizer(params, GENOMES.get(name, BASELINE_GENOMES["adam"]), **kwargs)


class PeakTemporaries(TorchDispatchMode):
    """Bytes of tensor storage created by the ops run under it and still alive, and its peak.

    Every op output whose storage is new (not an input's, not already counted) adds its
    bytes until that output tensor object is freed; in-place results and views add nothing.
    """

    def __init__(self) -> None:
        super().__init__()
        self.live = self.peak = 0
        self.counted: set[int] = set()

    def _free(self, ptr: int, nbytes: int) -> None:
        self.counted.discard(ptr)
        self.live -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {
            t.untyped_storage().data_ptr() for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)
        }
        for t in tree_leaves(out):
            if not isinstance(t, torch.Tensor):
                continue
            ptr, nbytes = t.untyped_storage().data_ptr(), t.untyped_storage().nbytes()
            if ptr in inputs or ptr in self.counted or nbytes == 0:
                continue
            self.counted.add(ptr)
            self.live += nbytes
            self.peak = max(self.peak, self.live)
            weakref.finalize(t, self._free, ptr, nbytes)
        return out


def peak_temporaries_mb(opt: torch.optim.Optimizer) -> float:
    mode = PeakTemporaries()
    with mode:
        opt.step()
    return mode.peak / 1e6


def measure_pair(shape: str, name: str, warmup: int, repeat: int) -> tuple[dict, dict]:
    """AdamW and ``name`` on two copies of the shape, stepped alternately (one AdamW step, one
    of ours): on a shared machine both see the same load; the ratio is of the two medians."""
    runs = {}
    for key in ("adamw_foreach", name):
        params = make_params(shape)
        runs[key] = (params, build(key, params), [])
    for k in range(warmup + repeat):
        for _params, opt, times in runs.values():
            start = time.perf_counter()
            opt.step()
            if k >= warmup:
                times.append(time.perf_counter() - start)
    out = []
    for params, opt, times in runs.values():
        out.append(
            {
                "median_ms": 1e3 * statistics.median(times),
                "peak_temp_mb": peak_temporaries_mb(opt),
                "params": sum(p.numel() for p in params),
                "tensors": len(params),
            }
        )
    return out[0], out[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="after")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for shape in ("many", "large"):
        for name in (*GENOMES, LOOP):
            base, got = measure_pair(shape, name, args.warmup, args.repeat)
            rows.append(
                {
                    "shape": shape,
                    "optimizer": name,
                    **got,
                    "adamw_ms": base["median_ms"],
                    "adamw_temp_mb": base["peak_temp_mb"],
                    "time_ratio": got["median_ms"] / base["median_ms"],
                    "temp_ratio": got["peak_temp_mb"] / max(base["peak_temp_mb"], 1e-9),
                }
            )
            print(rows[-1], flush=True)
    meta = {
        "label": args.label,
        "torch": torch.__version__,
        "threads": 1,
        "device": "cpu",
        "machine": platform.processor() or platform.machine(),
        "warmup": args.warmup,
        "repeat": args.repeat,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"optimizer_step_{args.label}.json").write_text(
        json.dumps({"meta": meta, "rows": rows}, indent=2)
    )
    lines = [
        f"# optimizer step ({args.label}): GenomeOptimizer vs AdamW(foreach=True), 1 CPU thread",
        "",
        f"torch {torch.__version__}; median of {args.repeat} steps after {args.warmup}; "
        "peak temporaries: new tensor storage alive during step(), seen by a TorchDispatchMode "
        "(see the docstring)",
        "",
        "| shape | optimizer | step ms | AdamW ms | x AdamW | peak temp MB | AdamW MB | x AdamW |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['shape']} ({r['tensors']} tensors, {r['params'] / 1e6:.1f}M) | {r['optimizer']} | "
            f"{r['median_ms']:.2f} | {r['adamw_ms']:.2f} | {r['time_ratio']:.2f} | "
            f"{r['peak_temp_mb']:.1f} | {r['adamw_temp_mb']:.1f} | {r['temp_ratio']:.2f} |"
        )
    (RESULTS / f"optimizer_step_{args.label}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
