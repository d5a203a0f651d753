"""Median final loss of Adam, ALME, Azure Sky and Lion on Rastrigin-10D, Ackley-10D, Rosenbrock-10D.

Protocol (the seed's ``landscape_analysis.py``): dimension 10, start ``x0 ~ N(0, I)`` drawn
per seed, 500 optimizer steps, one learning rate (1e-2) for every optimizer, seeds 0-9;
each optimizer is driven as the evo workers drive opaque entries, ``loss = opt.step(closure)``.
Other hyperparameters: ALME with the seed's defaults and again with
:data:`optimizers.opaque.alme.LANDSCAPE_SETTINGS`; Azure Sky with its README defaults (5 SA steps,
T0 2.27, sigma 0.17, clip 1); Lion betas (0.9, 0.99), no weight decay; Adam torch defaults.
Cells are medians over seeds of the loss at the final point. ALME spends extra closure
evaluations on its escapes (same step budget, more function evaluations): the table shows
the median evaluations per run; the JSON adds each cell's wall time as a ratio to Adam's
(same run, same landscape).

Run: ``.venv/bin/python benchmarks/fixed_landscapes.py [--seeds 10 --steps 500 --lr 0.01]``.
Writes ``benchmarks/results/fixed_landscapes.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from optimizers.opaque.alme import ALME, LANDSCAPE_SETTINGS
from optimizers.opaque.azure import Azure
from optimizers.opaque.lion import Lion

RESULTS = Path(__file__).parent / "results"


def rastrigin(x: torch.Tensor) -> torch.Tensor:
    """10 n + sum(x^2 - 10 cos(2 pi x)); minimum 0 at the origin, a local minimum near every integer point."""
    return 10.0 * x.numel() + (x**2 - 10.0 * torch.cos(2.0 * math.pi * x)).sum()


def ackley(x: torch.Tensor) -> torch.Tensor:
    """-20 exp(-0.2 sqrt(mean x^2)) - exp(mean cos(2 pi x)) + 20 + e; minimum 0 at the origin."""
    return (
        -20.0 * torch.exp(-0.2 * torch.sqrt((x**2).mean()))
        - torch.exp(torch.cos(2.0 * math.pi * x).mean())
        + 20.0
        + math.e
    )


def rosenbrock(x: torch.Tensor) -> torch.Tensor:
    """sum 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2; minimum 0 at (1, ..., 1), a long curved valley."""
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()


LANDSCAPES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "rastrigin": rastrigin, "ackley": ackley, "rosenbrock": rosenbrock,
}

OptimizerFactory = Callable[[list[torch.nn.Parameter], float, int], torch.optim.Optimizer]
OPTIMIZERS: dict[str, OptimizerFactory] = {
    "adam": lambda p, lr, seed: torch.optim.Adam(p, lr=lr),
    "alme": lambda p, lr, seed: ALME(p, lr=lr, generator=torch.Generator().manual_seed(seed)),
    "alme_landscape": lambda p, lr, seed: ALME(
        p, lr=lr, generator=torch.Generator().manual_seed(seed), **LANDSCAPE_SETTINGS
    ),
    "azure_sky": lambda p, lr, seed: Azure(p, lr=lr, generator=torch.Generator().manual_seed(seed)),
    "lion": lambda p, lr, seed: Lion(p, lr=lr),
}


def run_one(landscape: str, optimizer: str, seed: int, dim: int, steps: int, lr: float) -> dict[str, float]:
    """Train one start point; return the final loss, closure evaluations, escapes and seconds."""
    f = LANDSCAPES[landscape]
    x = torch.nn.Parameter(torch.randn(dim, generator=torch.Generator().manual_seed(seed)))
    opt = OPTIMIZERS[optimizer]([x], lr, seed)
    evaluations = 0

    def closure() -> torch.Tensor:
        nonlocal evaluations
        evaluations += 1
        opt.zero_grad()
        loss = f(x)
        loss.backward()
        return loss

    start = time.perf_counter()
    for _ in range(steps):
        opt.step(closure)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        final = f(x).item()
    escapes = opt.get_stats()["escape_count"] if isinstance(opt, ALME) else 0
    return {"final_loss": final, "evaluations": evaluations, "escapes": escapes, "seconds": seconds}


def run(seeds: int, dim: int, steps: int, lr: float) -> dict[str, object]:
    cells: dict[str, dict[str, dict[str, object]]] = {}
    for landscape in LANDSCAPES:
        cells[landscape] = {}
        for optimizer in OPTIMIZERS:
            runs = [run_one(landscape, optimizer, s, dim, steps, lr) for s in range(seeds)]
            losses = [r["final_loss"] for r in runs]
            cells[landscape][optimizer] = {
                "median_final_loss": statistics.median(losses),
                "final_losses": losses,
                "median_evaluations": statistics.median(r["evaluations"] for r in runs),
                "median_escapes": statistics.median(r["escapes"] for r in runs),
                "seconds": sum(r["seconds"] for r in runs),
            }
        adam_seconds = cells[landscape]["adam"]["seconds"]
        for cell in cells[landscape].values():
            cell["time_vs_adam"] = cell.pop("seconds") / adam_seconds
    return {
        "protocol": {"seeds": seeds, "dim": dim, "steps": steps, "lr": lr, "init": "randn per seed"},
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
        "results": cells,
    }


def markdown(report: dict[str, object]) -> str:
    cells = report["results"]
    p = report["protocol"]
    lines = [
        f"Median final loss over {p['seeds']} seeds ({p['dim']}D, {p['steps']} steps, lr {p['lr']}, "
        "x0 ~ N(0, I)); in brackets the median closure evaluations per run.",
        "",
        "| optimizer | " + " | ".join(cells) + " |",
        "|---|" + "---|" * len(cells),
    ]
    for optimizer in OPTIMIZERS:
        row = []
        for landscape in cells:
            cell = cells[landscape][optimizer]
            row.append(f"{cell['median_final_loss']:.4g} ({cell['median_evaluations']:.0f})")
        lines.append(f"| {optimizer} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--dim", type=int, default=10)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--lr", type=float, default=1e-2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    report = run(args.seeds, args.dim, args.steps, args.lr)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fixed_landscapes.json").write_text(json.dumps(report, indent=2))
    table = markdown(report)
    (RESULTS / "fixed_landscapes.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
