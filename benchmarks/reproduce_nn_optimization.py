"""Reproduce seed 004 (nn_optimization): direct vs overparameterised minimisation.

The seed's procedure (``scripts/train.py`` + ``trainers/trainer.py``), followed exactly:

1. model = a trainable point (``Point``, init N(0, 1) * 0.01) or the weight-normed MLP9
   (latent 128 ~ U[0, 1) trained with the weights, hidden 512, 1,843,585 parameters);
   one ``torch.optim.Adam(lr=5e-4)`` over all parameters;
2. initialisation phase: Adam steps on MSE(model(), start) until MSE < 1e-6; the **same**
   optimizer, moments included, continues into
3. the main phase: ``steps`` Adam steps on f(model()); the result is x = model(), f(x).

Two deliberate differences: the initialisation is capped by a step count (``--init-cap``)
instead of the seed's wall-clock timeout (10 s), so results do not depend on the machine
(the cap is never reached: every run reports the steps it took); and every case runs
several seeds (the seed ran each case once, unseeded), so the table says how often the
overparameterised model escapes. The seed's qubic overparameterised run used MLP17; it runs
here as in the seed (:class:`MLP17`, 19,432,577 parameters) and, like every other
overparameterised case, with the MLP9. Functions and the MLP9 come from
:mod:`workers.tasks.landscapes` and :mod:`workers.tasks.landscape_models`.

Usage: ``.venv/bin/python benchmarks/reproduce_nn_optimization.py [--seeds 5]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

import torch
from repro_common import markdown_table, write_results
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from workers.tasks.landscape_models import MLP9, Point
from workers.tasks.landscapes import LANDSCAPES, Landscape

LR = 5e-4
INIT_TOLERANCE = 1e-6
GLOBAL_BASIN = 0.1
"""A run 'reached the global minimum' when its final point is this close to a minimizer."""


@dataclass(frozen=True)
class Case:
    """One README experiment: function, model, start, steps and the seed's reported result."""

    name: str
    landscape: str
    model: str  # "direct", "mlp9" or "mlp17"
    steps: int
    seed_model: str
    seed_x: tuple[float, ...]
    seed_f: float


CASES = (
    Case("Ackley 1D direct", "ackley", "direct", 500, "parameter", (9.99495,), 17.29193),
    Case("Ackley 1D overparam.", "ackley", "mlp9", 500, "mlp9 128/512", (0.00026,), 0.00104),
    Case("Qubic direct", "qubic_1d", "direct", 500, "parameter", (0.96015,), -0.70585),
    Case("Qubic overparam. (MLP9)", "qubic_1d", "mlp9", 500, "mlp17 128/1024", (0.96234,), -0.70584),
    Case("Qubic overparam. (MLP17)", "qubic_1d", "mlp17", 500, "mlp17 128/1024", (0.96234,), -0.70584),
    Case("Six-hump direct", "six_hump_camel", "direct", 6000, "parameter", (1.6, 0.6), 2.108),
    Case("Six-hump overparam.", "six_hump_camel", "mlp9", 500, "mlp9 128/512", (0.0898, -0.7126), -1.0316),
)


class MLP17(nn.Module):
    """The seed's MLP17: a trainable latent [1, in] ~ U[0, 1) and four dense blocks.

    Each block is 4 x (weight-normed Linear, ReLU) to ``hidden``; block inputs are
    concatenated densely: b1(latent), b2([o1, latent]), b3([o2, in2]), b4([o3, in3]), then a
    plain Linear(hidden, out). in 128 / hidden 1024 / out 1: 19,432,577 parameters.
    Initialised by PyTorch's defaults from the global RNG (seed it first).
    """

    def __init__(self, in_ch: int = 128, out_ch: int = 1, hidden_ch: int = 1024) -> None:
        super().__init__()
        self.latent = nn.Parameter(torch.rand(1, in_ch))

        def block(fan_in: int) -> nn.Sequential:
            layers: list[nn.Module] = []
            for width in (fan_in, hidden_ch, hidden_ch, hidden_ch):
                layers += [weight_norm(nn.Linear(width, hidden_ch)), nn.ReLU()]
            return nn.Sequential(*layers)

        self.blocks = nn.ModuleList(block(k * hidden_ch + in_ch) for k in range(4))
        self.out = nn.Linear(hidden_ch, out_ch)

    def forward(self) -> torch.Tensor:
        features = self.latent  # [1, in]
        for block in self.blocks[:-1]:
            features = torch.cat([block(features), features], dim=-1)  # dense: [1, k h + in]
        return self.out(self.blocks[-1](features))  # [1, out]


def build_model(case: Case, land: Landscape, seed: int) -> torch.nn.Module:
    """The case's model, initialised from ``seed`` (the seed's own init distributions)."""
    if case.model == "mlp17":
        torch.manual_seed(seed)
        return MLP17(in_ch=128, out_ch=land.dim, hidden_ch=1024)
    generator = torch.Generator().manual_seed(seed)
    model: Point | MLP9
    if case.model == "direct":
        model = Point(land.dim)
    else:
        model = MLP9(in_ch=128, out_ch=land.dim, hidden_ch=512, weight_norm=True)
    model.reset_from_generator(generator)
    return model


def run_case(case: Case, seed: int, init_cap: int) -> dict[str, object]:
    """Initialisation phase, then the main phase, with one Adam throughout."""
    land = LANDSCAPES[case.landscape]
    model = build_model(case, land, seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    start = torch.tensor(land.start, dtype=torch.float32).reshape(1, -1)
    began = time.perf_counter()
    init_steps = 0
    while init_steps < init_cap:
        optimizer.zero_grad()
        mse = ((model() - start) ** 2).mean()
        if mse.item() < INIT_TOLERANCE:
            break
        mse.backward()
        optimizer.step()
        init_steps += 1
    init_seconds = time.perf_counter() - began
    with torch.no_grad():
        placed = model().reshape(-1).tolist()
    for _ in range(case.steps):
        optimizer.zero_grad()
        land.fn(model()).sum().backward()
        optimizer.step()
    with torch.no_grad():
        x = model()
        f = float(land.fn(x).sum())
        distance = float(land.distance_to_minimizer(x).sum())
    return {
        "seed": seed,
        "x": x.reshape(-1).tolist(),
        "f": f,
        "gap": f - land.f_min,
        "distance_to_global": distance,
        "reached_global": distance < GLOBAL_BASIN,
        "init_steps": init_steps,
        "placed_at": placed,
        "init_seconds": init_seconds,
        "main_seconds": time.perf_counter() - began - init_seconds,
    }


def summarize(case: Case, runs: list[dict]) -> list[object]:
    """One table row: the seed's result next to ours (median run, escapes, spread)."""
    fs = [r["f"] for r in runs]
    median_run = sorted(runs, key=lambda r: r["f"])[len(runs) // 2]
    xs = ", ".join(f"{v:.5f}" for v in median_run["x"])
    seed_xs = ", ".join(f"{v:g}" for v in case.seed_x)
    reached = sum(bool(r["reached_global"]) for r in runs)
    return [
        case.name,
        f"{case.steps}",
        f"{case.seed_model}: x = ({seed_xs}), f = {case.seed_f}",
        f"x = ({xs}), f = {median_run['f']:.5f}",
        f"{min(fs):.5f} .. {max(fs):.5f}",
        f"{reached}/{len(runs)}",
        f"{statistics.fmean(r['init_steps'] for r in runs):.0f}",
        f"{statistics.fmean(r['main_seconds'] for r in runs):.1f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="runs per case (seeds 0..N-1)")
    parser.add_argument("--init-cap", type=int, default=100_000, help="most initialisation steps")
    parser.add_argument("--only", default="", help="run only cases whose name contains this text")
    args = parser.parse_args()

    results, rows = [], []
    for case in CASES:
        if args.only.lower() not in case.name.lower():
            continue
        runs = [run_case(case, seed, args.init_cap) for seed in range(args.seeds)]
        results.append({"case": case.name, "landscape": case.landscape, "model": case.model,
                        "steps": case.steps, "seed_model": case.seed_model, "seed_x": case.seed_x,
                        "seed_f": case.seed_f, "runs": runs})
        rows.append(summarize(case, runs))
        print(" | ".join(rows[-1]), flush=True)

    headers = ["case", "steps", "seed (README)", "ours (median run)", "ours f min..max",
               f"reached global (<{GLOBAL_BASIN})", "init steps", "main phase s"]
    table = markdown_table(headers, rows)
    text = (
        "### nn_optimization (seed 004): direct vs overparameterised, Adam lr 5e-4\n\n"
        f"{args.seeds} seeds per case; overparameterised = weight-normed MLP9 (in 128, hidden 512), "
        "or the seed's MLP17 (in 128, hidden 1024) where named.\n\n"
        f"{table}\n"
    )
    print("\n" + text)
    write_results("nn_optimization", {"seeds": args.seeds, "lr": LR, "cases": results}, text)


if __name__ == "__main__":
    main()
