"""Reproduce seed 002 (Azure Sky): Two Moons, 50 epochs, Azure vs Adam vs AdamW (and the rest).

The seed README reports, for ``make_moons(5000, noise=0.2)`` and 50 epochs, best validation
loss / final validation accuracy: Azure 0.0919 / 96.7 %, Adam 0.0927 / 96.8 %, AdamW
0.0917 / 97.1 %. Model, split, batch size and seeds are unspecified and its code is not
public, so we fix them (seed-algorithms.md section 2, "Reproducing headline numbers"):

* data: the ``two_moons`` task's data (:mod:`workers.tasks.datasets`): make_moons(5000, noise 0.2),
  fixed 80/20 train/validation split (4000 / 1000), features standardised;
* model: the task's Tanh MLP 2-128-128-2 (Azure HEAD's benchmark model), initialised per
  seed from the member's ``init`` stream; batch 256, reshuffled every epoch from the
  ``data`` stream; Azure's noise and ALME's candidates from the ``optimizer`` stream (as in
  :mod:`workers.sequential`); cross-entropy; every step is ``optimizer.step(closure)``;
* per epoch: validation loss and accuracy; reported: the best validation loss over the 50
  epochs and the accuracy after the last one, mean ± std over seeds 0-4.

Every registry entry runs with its documented hyperparameters (``optimizers.registry``);
genome entries get total_steps = 50 epochs x 16 batches. ``azure_sky`` is our Azure (the
README's Optuna defaults, with the AR(1) exploration noise that gives ``sa_momentum`` a
meaning); ``azure_sky_seed`` is the faithful variant (``sa_momentum=0``: white noise, as the
seed's code, which accepted sa_momentum but never used it).

Usage: ``.venv/bin/python benchmarks/reproduce_azure_two_moons.py [--seeds 5] [--epochs 50]``
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import torch
from repro_common import markdown_table, mean_std, pm, write_results
from torch.nn import functional as F

from optimizers.registry import REGISTRY, FixedEntry
from workers.seeding import MemberStreams
from workers.tasks.datasets import load_classification
from workers.tasks.models import build_model
from workers.tasks.registry import TASKS

TASK = "two_moons"
BATCH = 256
SEED_README = {"azure_sky": (0.0919, 0.967), "adam": (0.0927, 0.968), "adamw": (0.0917, 0.971)}
FIRST = ("azure_sky", "azure_sky_seed", "adam", "adamw")


def entries() -> dict[str, FixedEntry]:
    """The registry plus the seed-faithful Azure (white exploration noise)."""
    azure = REGISTRY["azure_sky"]
    faithful = FixedEntry(
        name="azure_sky_seed",
        optimizer_class=azure.optimizer_class,
        kwargs={**azure.kwargs, "sa_momentum": 0.0},
        summary="Azure Sky as the seed's code: white exploration noise (sa_momentum unused)",
    )
    table = {**REGISTRY, faithful.name: faithful}
    return {name: table[name] for name in (*FIRST, *sorted(set(table) - set(FIRST)))}


def train(entry: FixedEntry, seed: int, epochs: int) -> dict[str, Any]:
    """One seed's run: 50 epochs of mini-batch training, validation after each epoch."""
    device = torch.device("cpu")
    data = load_classification(TASK, "", "val", device)
    streams = MemberStreams.create(TASK, seed, device)
    model = build_model(TASKS[TASK].model_factory, streams.init, device)
    n = data.x_train.shape[0]
    per_epoch = math.ceil(n / BATCH)
    optimizer = entry.build(model.parameters(), total_steps=epochs * per_epoch, generator=streams.optimizer)
    val_losses, val_accs = [], []
    began = time.perf_counter()
    diverged = False
    for _ in range(epochs):
        model.train()
        order = torch.randperm(n, generator=streams.data)
        for start in range(0, n, BATCH):
            index = order[start : start + BATCH]

            def closure(index: torch.Tensor = index) -> torch.Tensor:
                optimizer.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(data.x_train[index]), data.y_train[index])
                loss.backward()
                return loss

            optimizer.step(closure)
        model.eval()
        with torch.no_grad():
            logits = model(data.x_eval)
            val_losses.append(float(F.cross_entropy(logits, data.y_eval)))
            val_accs.append(float((logits.argmax(1) == data.y_eval).float().mean()))
        if not math.isfinite(val_losses[-1]):
            diverged = True
            break
    stats = optimizer.get_stats() if hasattr(optimizer, "get_stats") else {}
    return {
        "seed": seed,
        "best_val_loss": min(val_losses) if not diverged else math.nan,
        "best_epoch": val_losses.index(min(val_losses)) + 1 if not diverged else None,
        "final_val_loss": val_losses[-1],
        "final_val_acc": val_accs[-1],
        "diverged": diverged,
        "escape_count": stats.get("escape_count"),
        "seconds": time.perf_counter() - began,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--only", nargs="*", default=None, help="entry names (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # a 2-128-128-2 MLP gains nothing from more threads

    results: dict[str, list[dict[str, Any]]] = {}
    rows = []
    for name, entry in entries().items():
        if args.only and name not in args.only:
            continue
        runs = [train(entry, seed, args.epochs) for seed in range(args.seeds)]
        results[name] = runs
        readme = SEED_README.get(name)
        acc_mean, _ = mean_std([r["final_val_acc"] for r in runs])
        escapes = [r["escape_count"] for r in runs if r["escape_count"] is not None]
        rows.append([
            name,
            f"{readme[0]:.4f} / {100 * readme[1]:.1f} %" if readme else "-",
            pm([r["best_val_loss"] for r in runs]),
            pm([100 * r["final_val_acc"] for r in runs], 2) + " %",
            f"{sum(r['diverged'] for r in runs)}/{len(runs)}",
            f"{sum(escapes)}" if escapes else "-",
            f"{sum(r['seconds'] for r in runs) / len(runs):.1f}",
        ])
        print(" | ".join(rows[-1]), f"(acc {acc_mean:.4f})", flush=True)

    headers = ["entry", "seed README: best val loss / acc", "ours: best val loss", "ours: final val acc",
               "diverged", "ALME escapes", "s / run"]
    text = (
        f"### Azure Sky (seed 002): Two Moons, {args.epochs} epochs, mean ± std over {args.seeds} seeds\n\n"
        "make_moons(5000, noise 0.2), 80/20 split, Tanh MLP 2-128-128-2, batch 256.\n\n"
        f"{markdown_table(headers, rows)}\n"
    )
    print("\n" + text)
    settings = {"task": TASK, "batch": BATCH, "epochs": args.epochs, "seeds": args.seeds}
    payload = {"settings": settings, "seed_readme": SEED_README, "runs": results}
    write_results("azure_two_moons", payload, text)


if __name__ == "__main__":
    main()
