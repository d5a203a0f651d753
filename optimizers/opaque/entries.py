"""Opaque fixed entries (not genomes): ALME, Azure Sky, Lion and torch.optim classes.

Opaque entries cannot be written as a genome, so the workers train them one model at a time
through the sequential loop, ``loss = optimizer.step(closure)``. Every entry lists its
hyperparameters explicitly (the values are those of the cited source) and the invalid
arguments the registry tests feed it.

| name | class | hyperparameters (source) |
|---|---|---|
| alme | :class:`~.alme.ALME` | Styx defaults: Adam lr 1e-3, window 10, patience 5, 10 candidates |
| azure_sky | :class:`~.azure.Azure` | Azure Sky README (Optuna trial 99), 5 SA steps, clip 1 |
| lion | :class:`~.lion.Lion` | lr 1e-4, betas (0.9, 0.99), wd 1e-3 (lr x wd = Adam baseline's) |
| nadam | ``torch.optim.NAdam`` | torch defaults: lr 2e-3, momentum_decay 4e-3 |
| radam | ``torch.optim.RAdam`` | torch defaults: lr 1e-3 |
| adagrad | ``torch.optim.Adagrad`` | torch defaults: lr 1e-2, eps 1e-10 |
| adafactor | ``torch.optim.Adafactor`` | torch defaults: lr 1e-2, beta2_decay -0.8, d 1 (if torch has it) |
"""

from __future__ import annotations

import torch

from optimizers.entry import FixedEntry
from optimizers.opaque.alme import ALME
from optimizers.opaque.azure import Azure
from optimizers.opaque.lion import Lion

ALME_ENTRY = FixedEntry(
    name="alme",
    optimizer_class=ALME,
    kwargs={
        "lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
        "loss_window": 10, "loss_threshold": 1e-5, "stagnation_patience": 5, "use_loss_plateau": True,
        "population_size": 10, "scale_distribution": {0.5: 2, 1.0: 3, 2.0: 3, 4.0: 1, 8.0: 1},
        "n_eval_steps": 3,
    },
    summary="ALME (Styx): Adam lr 1e-3 + population escape on loss plateaus, seed defaults",
    invalid_kwargs=(
        ("lr", -1e-3), ("betas", (1.0, 0.999)), ("eps", -1e-8), ("weight_decay", -0.1),
        ("loss_window", 1), ("stagnation_patience", 0), ("population_size", 7), ("n_eval_steps", -1),
        ("eval_on", "test"), ("scale_distribution", {"big": 10}),
    ),
)

AZURE_ENTRY = FixedEntry(
    name="azure_sky",
    optimizer_class=Azure,
    kwargs={
        "lr": 0.0007518383921113902, "T0": 2.2723218904585964, "sigma": 0.17181058166567398,
        "betas": (0.9, 0.999), "eps": 1e-8, "sa_steps": 5, "sa_momentum": 0.6612913488540948,
        "clip_grad_norm": 1.0,
    },
    summary="Azure Sky: 5 annealed Gaussian kicks blended into Adam lr 7.5e-4, clip 1 (README defaults)",
    invalid_kwargs=(
        ("lr", -1.0), ("T0", -1.0), ("sigma", -0.1), ("betas", (0.9, 1.0)), ("eps", -1.0), ("sa_steps", 0),
        ("sa_momentum", 1.0), ("clip_grad_norm", 0.0), ("acceptance", "greedy"),
    ),
)

LION_ENTRY = FixedEntry(
    name="lion",
    optimizer_class=Lion,
    kwargs={"lr": 1e-4, "betas": (0.9, 0.99), "weight_decay": 1e-3},
    summary="Lion (Chen et al. 2023): sign of interpolated momentum, lr 1e-4, wd 1e-3",
    invalid_kwargs=(("lr", -1e-4), ("betas", (0.9, 1.5)), ("weight_decay", -1.0)),
)

TORCH_ENTRIES: tuple[FixedEntry, ...] = (
    FixedEntry(
        name="nadam",
        optimizer_class=torch.optim.NAdam,
        kwargs={"lr": 2e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "momentum_decay": 4e-3},
        summary="NAdam (torch.optim): Adam with Nesterov momentum, lr 2e-3",
        invalid_kwargs=(
            ("lr", -1.0), ("betas", (1.0, 0.999)), ("eps", -1.0), ("weight_decay", -1.0),
            ("momentum_decay", -1.0),
        ),
    ),
    FixedEntry(
        name="radam",
        optimizer_class=torch.optim.RAdam,
        kwargs={"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0},
        summary="RAdam (torch.optim): Adam with variance rectification, lr 1e-3",
        invalid_kwargs=(("lr", -1.0), ("betas", (0.9, 1.0)), ("eps", -1.0), ("weight_decay", -1.0)),
    ),
    FixedEntry(
        name="adagrad",
        optimizer_class=torch.optim.Adagrad,
        kwargs={
            "lr": 1e-2, "lr_decay": 0.0, "weight_decay": 0.0, "initial_accumulator_value": 0.0, "eps": 1e-10,
        },
        summary="Adagrad (torch.optim): lr 1e-2, accumulated squared gradients",
        invalid_kwargs=(
            ("lr", -1.0), ("lr_decay", -1.0), ("weight_decay", -1.0), ("initial_accumulator_value", -1.0),
            ("eps", -1.0),
        ),
    ),
)

if hasattr(torch.optim, "Adafactor"):
    TORCH_ENTRIES += (
        FixedEntry(
            name="adafactor",
            optimizer_class=torch.optim.Adafactor,
            kwargs={"lr": 1e-2, "beta2_decay": -0.8, "eps": (None, 1e-3), "d": 1.0, "weight_decay": 0.0},
            summary="Adafactor (torch.optim): factored second moments, lr 1e-2, beta2_decay -0.8",
            invalid_kwargs=(
                ("lr", -1.0), ("beta2_decay", 0.5), ("eps", (None, -1.0)), ("d", 0.5), ("weight_decay", -1.0),
            ),
        ),
    )

OPAQUE_ENTRIES: tuple[FixedEntry, ...] = (ALME_ENTRY, AZURE_ENTRY, LION_ENTRY, *TORCH_ENTRIES)
