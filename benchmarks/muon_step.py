"""The exported ``muon`` genome's ``step()`` against ``torch.optim.Muon``: time per step.

The ``muon`` registry genome is exported with ``evo export`` (``write_optimizer_file``), the
file is imported and both optimizers get the same matrices (torch's Muon takes 2-D parameters
only) and fixed random gradients; ``torch.optim.Muon(lr=1e-3, weight_decay=0.1, momentum=0.95,
adjust_lr_fn="match_rms_adamw")`` is the genome's own update (tests/test_rule_muon_lamb.py).
Shapes (one CPU thread unless ``--threads``):

* ``many``: 60 matrices of 128 x 128 (0.98M parameters): per-tensor overhead dominates;
* ``wide``: 4 matrices of 384 x 1536 (2.4M parameters): Newton-Schulz's matrix products dominate.

Both optimizers are stepped alternately (``--warmup`` untimed rounds, then ``--repeat`` timed),
so they see the same machine load; the ratio is of the two medians from that one run, for the
exported file's fast path (``foreach=None``, the default) and its exact loop (``foreach=False``).
The last column is the largest parameter difference after all steps: Newton-Schulz runs in
bfloat16 in both, so a float32-rounding difference in the momentum (the genome's beta1 is a
float32 scalar) can move a bfloat16 input by one unit (0.4%) here and there.

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/muon_step.py --label cpu``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from evo.report.optimizer_file import write_optimizer_file
from optimizers.baselines import MUON

RESULTS = Path(__file__).parent / "results"
SHAPES = {"many": [(128, 128)] * 60, "wide": [(384, 1536)] * 4}


def exported_class(folder: Path):
    path = write_optimizer_file(MUON, folder / "exported_muon.py", class_name="ExportedMuon")
    spec = importlib.util.spec_from_file_location("exported_muon", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ExportedMuon


def make_params(shape: str) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    params = []
    for size in SHAPES[shape]:
        p = torch.nn.Parameter(torch.randn(*size, generator=gen) * 0.05)
        p.grad = torch.randn(*size, generator=gen) * 1e-2
        params.append(p)
    return params


def measure(shape: str, make_ours, warmup: int, repeat: int) -> dict:
    """Median ms per step of torch's Muon and of ours, stepped alternately."""
    theirs_params, ours_params = make_params(shape), make_params(shape)
    runs = {
        "torch_muon": (
            torch.optim.Muon(
                theirs_params, lr=1e-3, weight_decay=0.1, momentum=0.95, adjust_lr_fn="match_rms_adamw"
            ),
            [],
        ),
        "exported": (make_ours(ours_params), []),
    }
    for k in range(warmup + repeat):
        for opt, times in runs.values():
            start = time.perf_counter()
            opt.step()
            if k >= warmup:
                times.append(time.perf_counter() - start)
    torch_ms, ours_ms = (1e3 * statistics.median(times) for _, times in runs.values())
    drift = max((a - b).abs().max().item() for a, b in zip(theirs_params, ours_params, strict=True))
    return {
        "shape": shape,
        "tensors": len(SHAPES[shape]),
        "params": sum(p.numel() for p in theirs_params),
        "torch_muon_ms": torch_ms,
        "exported_ms": ours_ms,
        "ratio": ours_ms / torch_ms,
        "max_param_difference": drift,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="cpu")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        cls = exported_class(Path(folder))
        for shape in SHAPES:
            for path, foreach in (("fast", None), ("loop", False)):
                row = measure(shape, lambda p, f=foreach: cls(p, foreach=f), args.warmup, args.repeat)
                rows.append({"path": path, **row})
                print(json.dumps(rows[-1]))
    meta = {
        "torch": torch.__version__,
        "machine": platform.machine(),
        "threads": args.threads,
        "warmup": args.warmup,
        "repeat": args.repeat,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"muon_step_{args.label}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    lines = [
        f"# exported muon genome vs torch.optim.Muon ({args.label}), {args.threads} CPU thread(s)",
        "",
        f"torch {meta['torch']}; median of {args.repeat} steps after {args.warmup}, stepped alternately;"
        " `PYTHONPATH=. python benchmarks/muon_step.py`",
        "",
        "| shape | path | torch Muon ms | exported ms | x torch | max param difference |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['shape']} ({r['tensors']} x {SHAPES[r['shape']][0]}) | {r['path']}"
            f" | {r['torch_muon_ms']:.2f} | {r['exported_ms']:.2f} | {r['ratio']:.2f}"
            f" | {r['max_param_difference']:.1e} |"
        )
    (RESULTS / f"muon_step_{args.label}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
