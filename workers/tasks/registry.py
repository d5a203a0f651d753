"""The task registry: name -> :class:`RegisteredTask`, a plain dict the tests iterate (the same concept as
:mod:`optimizers.registry` one layer up: the names a job config's ``tasks`` resolve in).

Classification (seed-algorithms.md section 3; batch 128 unless noted):

==============  ===================================  =========================================
name            data                                 model
==============  ===================================  =========================================
mnist           torchvision MNIST (files)            SmallCNN
fashion_mnist   torchvision FashionMNIST (files)     SmallCNN
cifar10         torchvision CIFAR10 (files), flip    the seed's CIFAR CNN (BatchNorm, dropout)
                + crop augmentation
two_moons       make_moons(5000, noise 0.2)          Tanh MLP 2-128-128-2 (Azure HEAD's), batch 256
digits          scikit-learn 8x8 digits              ReLU MLP 64-128-64-10
==============  ===================================  =========================================

Landscapes ``{fn}_direct`` (the point is the parameter) and ``{fn}_overparam`` (the point is
the output of an :class:`~workers.tasks.landscape_models.MLP9` with a trainable latent) for fn in
ackley, rastrigin, rosenbrock, six_hump_camel, qubic_1d (see :mod:`workers.tasks.landscapes`).
The registry's MLP9 is CPU-sized: latent 32, hidden 128, no weight norm (~120k parameters
instead of the seed's 1.84M), placed at the start point by a bias shift without the seed's
Adam initialisation phase; the class and ``LandscapeRuntime(pretrain=True)`` take the seed's
full size and phase for reproductions.

Families (:mod:`workers.families`; each module documents its data, model, score
and divergence bound): ``char_gru`` (language_model), ``sort_transformer`` and
``sort_transformer_long`` (sequence), ``diabetes_mlp`` (regression), ``digits_autoencoder``
(autoencoder), ``logreg_illcond`` and ``logreg_illcond_1e4`` (convex). ``diabetes_mlp`` and
``friedman_mlp`` are :class:`ProtocolTask` entries: written with the public task protocol
(:mod:`workers.tasks.protocol`), as a user's task is (:mod:`workers.tasks.user_tasks`). Their population
path runs the model under ``torch.func.vmap``; with P = 8 members (4 genomes x 2 seeds,
100 steps, 1 thread, CPU time on a loaded machine) it beats the loop 3.5x (logreg_illcond),
1.5x (diabetes_mlp), 2.6x (digits_autoencoder), 2.0x (char_gru), 2.2x (sort_transformer),
so all take it on a CPU. Sequential CPU time per 100 steps (Adam, batch as registered):
char_gru 0.48 s, sort_transformer 0.45 s, sort_transformer_long 0.55 s, diabetes_mlp 0.15 s,
digits_autoencoder 0.45 s, logreg_illcond 0.08 s (digits MLP: 0.16 s on the same machine).

``population_on_cpu`` records where the population path beats a plain loop on a CPU
(``benchmarks/throughput.py``, 1 thread, P = 8 / 32): digits MLP 2.3x / 2.0x, direct points
9x / 10x, MLP9 0.8x / 1.1x with glibc's default malloc and 2.4x / 1.5x with
:func:`workers.process.configure_worker_process`; the CNNs run at 0.5-0.6x, so they stay
sequential on a CPU (on a GPU every genome member takes the population path).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import torch
from torch import nn

from workers.errors import UnknownTaskError
from workers.families import FamilySpec, family_runtime, family_specs
from workers.families.common import SupervisedRuntime
from workers.families.tabular import TABULAR_TASKS
from workers.tasks.classification_runtime import ClassificationRuntime
from workers.tasks.datasets import FILE_DATASETS, Split, download_data, load_classification, require_files
from workers.tasks.landscape_models import MLP9, Point
from workers.tasks.landscape_runtime import LandscapeRuntime
from workers.tasks.landscapes import LANDSCAPES, Landscape
from workers.tasks.models import cifar_cnn, mlp, small_cnn
from workers.tasks.protocol import Task
from workers.tasks.protocol_runtime import protocol_runtime
from workers.tasks.runtime import Runtime

CUSTOM_KEY_MARK = "@"
"""In a user's task key (``name@hash``), never in a registry name."""
OVERPARAM_LATENT = 32
OVERPARAM_HIDDEN = 128


@dataclass(frozen=True, kw_only=True)
class RegisteredTask:
    """A registered task.

    Attributes:
        name: registry key (a user's task: ``name@hash``). kind: "classification",
            "landscape", a family's kind or "custom".
        needs_data_dir: reads files from the data directory (torchvision data sets).
        description: one line for listings.
        model_factory: builds the (uninitialised) model.
        population_on_cpu: the population path is the faster one on a CPU.
        population_ok: the population path can run the model at all (a user's model with
            batch statistics, buffers or dropout cannot: it always trains sequentially).
    """

    name: str
    kind: Literal[
        "classification", "landscape", "language_model", "sequence", "regression", "autoencoder", "convex",
        "custom",
    ]  # fmt: skip
    needs_data_dir: bool
    description: str
    model_factory: Callable[[], nn.Module] = field(repr=False)
    population_on_cpu: bool
    population_ok: bool = True

    def runtime(self, data_dir: str, split: Split, device: torch.device) -> Runtime:  # pragma: no cover
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class ClassificationTask(RegisteredTask):
    """Mini-batch classification; ``dataset`` names the data in :mod:`workers.tasks.datasets`."""

    dataset: str
    batch_size: int = 128
    augment: bool = False

    def runtime(self, data_dir: str, split: Split, device: torch.device) -> ClassificationRuntime:
        data = load_classification(self.dataset, data_dir, split, device)
        return ClassificationRuntime(
            self.name, self.model_factory, data, self.batch_size, self.augment, device
        )


@dataclass(frozen=True, kw_only=True)
class LandscapeTask(RegisteredTask):
    """Minimisation of an analytic function, directly or through an MLP9."""

    landscape: Landscape
    overparam: bool

    def runtime(self, data_dir: str, split: Split, device: torch.device) -> LandscapeRuntime:
        return LandscapeRuntime(self.name, self.landscape, self.model_factory, device)


@dataclass(frozen=True, kw_only=True)
class FamilyTask(RegisteredTask):
    """A task of :mod:`workers.families`: in-memory data, its loss and bounded score."""

    spec: FamilySpec = field(repr=False)

    def runtime(self, data_dir: str, split: Split, device: torch.device) -> SupervisedRuntime:
        return family_runtime(self.spec, split, device)


@dataclass(frozen=True, kw_only=True)
class ProtocolTask(RegisteredTask):
    """A :class:`~workers.tasks.protocol.Task` (built-in or a user's): ``load()`` returns it,
    called once per process when a runtime is first needed."""

    load: Callable[[], Task] = field(repr=False)

    def runtime(self, data_dir: str, split: Split, device: torch.device) -> Runtime:
        return protocol_runtime(self.name, self.load, split, device)


def _protocol_tasks() -> list[RegisteredTask]:
    return [
        ProtocolTask(
            name=name, kind="regression", needs_data_dir=False, description=description,
            model_factory=partial(_model_of, load), population_on_cpu=True, load=load,
        )
        for name, (load, description) in TABULAR_TASKS.items()
    ]  # fmt: skip


def _model_of(load: Callable[[], Task]) -> nn.Module:
    return load().model()


def _family_tasks() -> list[RegisteredTask]:
    return [
        FamilyTask(
            name=spec.name, kind=spec.kind, needs_data_dir=False, description=spec.description,  # type: ignore[arg-type]
            model_factory=spec.model_factory, population_on_cpu=spec.population_on_cpu, spec=spec,
        )
        for spec in family_specs()
    ]  # fmt: skip


def _classification_tasks() -> list[RegisteredTask]:
    return [
        ClassificationTask(
            name="mnist", kind="classification", needs_data_dir=True, dataset="mnist",
            description="MNIST digits (15k training subset), SmallCNN",
            model_factory=small_cnn, population_on_cpu=False,
        ),
        ClassificationTask(
            name="fashion_mnist", kind="classification", needs_data_dir=True, dataset="fashion_mnist",
            description="Fashion-MNIST (15k training subset), SmallCNN",
            model_factory=small_cnn, population_on_cpu=False,
        ),
        ClassificationTask(
            name="cifar10", kind="classification", needs_data_dir=True, dataset="cifar10", augment=True,
            description="CIFAR-10 (15k training subset, flip + crop augmentation), the seed's CIFAR CNN",
            model_factory=cifar_cnn, population_on_cpu=False,
        ),
        ClassificationTask(
            name="two_moons", kind="classification", needs_data_dir=False, dataset="two_moons",
            batch_size=256,
            description="scikit-learn two moons (5000 samples, noise 0.2), Tanh MLP 2-128-128-2",
            model_factory=partial(mlp, (2, 128, 128, 2), "tanh"), population_on_cpu=True,
        ),
        ClassificationTask(
            name="digits", kind="classification", needs_data_dir=False, dataset="digits",
            description="scikit-learn 8x8 digits, ReLU MLP 64-128-64-10",
            model_factory=partial(mlp, (64, 128, 64, 10), "relu"), population_on_cpu=True,
        ),
    ]  # fmt: skip


def _landscape_tasks() -> list[RegisteredTask]:
    tasks: list[RegisteredTask] = []
    for land in LANDSCAPES.values():
        tasks.append(
            LandscapeTask(
                name=f"{land.name}_direct",
                kind="landscape",
                needs_data_dir=False,
                landscape=land,
                overparam=False,
                description=f"{land.name} {land.dim}-D, the point is the parameter ({land.source})",
                model_factory=partial(Point, land.dim),
                population_on_cpu=True,
            )
        )
        tasks.append(
            LandscapeTask(
                name=f"{land.name}_overparam",
                kind="landscape",
                needs_data_dir=False,
                landscape=land,
                overparam=True,
                description=(
                    f"{land.name} {land.dim}-D through an MLP9 (latent {OVERPARAM_LATENT}, hidden "
                    f"{OVERPARAM_HIDDEN}) with a trainable latent"
                ),
                model_factory=partial(MLP9, OVERPARAM_LATENT, land.dim, OVERPARAM_HIDDEN),
                population_on_cpu=True,
            )
        )
    return tasks


TASKS: dict[str, RegisteredTask] = {
    task.name: task
    for task in (*_classification_tasks(), *_landscape_tasks(), *_family_tasks(), *_protocol_tasks())
}
"""name -> :class:`RegisteredTask`."""


def get_task(name: str) -> RegisteredTask:
    """Look up a task; raises :class:`UnknownTaskError` listing the known names."""
    try:
        return TASKS[name]
    except KeyError:
        raise UnknownTaskError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}") from None


def check_data(tasks: list[str], data_dir: str, download: bool = False) -> None:
    """Fail fast, before a run starts, when a task is unknown or its files are missing.

    With ``download`` (``data.download: true``) missing files are first fetched with
    torchvision into ``data_dir`` (:func:`~workers.tasks.datasets.download_data`).

    Raises:
        UnknownTaskError: a name not in :data:`TASKS` (the message lists them).
        MissingDataError: one line naming the directory, the expected files and the
            command that downloads them.
    """
    for name in tasks:
        if CUSTOM_KEY_MARK in name:  # a user's task: checked when its config loaded
            continue
        task = get_task(name)
        if task.needs_data_dir and isinstance(task, ClassificationTask):
            if download:
                download_data([task.dataset], data_dir)
            require_files(FILE_DATASETS[task.dataset], data_dir)
