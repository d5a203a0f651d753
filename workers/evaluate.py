"""``evaluate(request) -> EvalResult``: the worker's one entry point, a pure function.

It never touches a database. Members are (entry, seed) pairs. Genome entries may train as
a population (``optimizers.rule`` on stacked parameters); fixed entries build their
optimizer from the registry (``get_entry(name).build(params, total_steps)``), a genome
entry of the registry (e.g. ``adam``) through ``GenomeOptimizer``, and train sequentially;
a user's optimizer (``EntrySpec.custom``) is imported from its spec and trains sequentially.

Path choice (``request.path == "auto"``): genome members take the population path when the
device is a GPU or the task's model is one where stacking wins on a CPU
(``RegisteredTask.population_on_cpu``: MLPs and landscapes; not the CNNs, see
``benchmarks/throughput.py``), else the sequential path; a user's task whose model the
population path cannot run (``population_ok``, :mod:`workers.tasks.task_check`) always
trains sequentially. The choice does not depend on how
many members share the request, and on the CPU a population member's metrics are bitwise
independent of its co-members, so a (genome, task, seed, steps) scores the same whatever
request carried it (the store's cache relies on that). The two paths agree to float
rounding, which chaotic runs (e.g. SGD on Ackley through an MLP9) can amplify over many
steps. The result's ``path`` is the one the genome members took.
A failure of the population run as a whole (e.g. out of memory, or a model the stacked
forward cannot run) is logged (once per task and process at WARNING) and its members
are retrained sequentially (the result then says ``path="sequential"``), so one bad member
never sinks the others.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Literal

import torch

from optimizers.errors import one_line
from optimizers.genome import Genome
from optimizers.genome_optimizer import GenomeOptimizer
from optimizers.registry import REGISTRY, get_entry
from workers.device import describe_device, resolve_device
from workers.errors import UnknownEntryError
from workers.fitness import DIVERGED_FITNESS, mean_last_losses, seed_fitness
from workers.outcome import MemberOutcome, loss_curve
from workers.population.loop import train_population
from workers.requests import EntrySpec, EvalRequest, EvalResult, MemberResult
from workers.sequential import OptimizerFactory, train_sequential
from workers.tasks.registry import RegisteredTask, get_task
from workers.tasks.user_tasks import registered_task

TrainingPath = Literal["sequential", "population"]
logger = logging.getLogger(__name__)
_FELL_BACK: set[str] = set()
"""Tasks whose population run failed in this process (their fallback was logged once)."""


def worker_id() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _entry_genome(entry: EntrySpec) -> Genome | None:
    """The genome to train, if the entry is one (a fixed genome entry counts)."""
    if entry.genome is not None or entry.custom is not None:
        return entry.genome
    return REGISTRY[entry.fixed].genome


def _optimizer_factory(entry: EntrySpec, total_steps: int) -> OptimizerFactory:
    if entry.genome is not None:
        genome = entry.genome
        # foreach=False: the exact formulation, so evaluated fitness never moves with the fast path
        return lambda params, _generator: GenomeOptimizer(
            params, genome, total_steps=total_steps, foreach=False
        )
    if entry.custom is not None:  # imported when the member trains: a failure fails the member
        custom = entry.custom
        scale = entry.lr_scale
        return lambda params, generator: custom.entry().scaled(scale).build(
            params, total_steps, generator=generator
        )
    fixed = get_entry(entry.fixed).scaled(entry.lr_scale)
    return lambda params, generator: fixed.build(params, total_steps, generator=generator)


def validate_entries(entries: list[EntrySpec]) -> None:
    """Raise :class:`UnknownEntryError` for a fixed name missing from the registry."""
    for entry in entries:
        if entry.fixed is not None and entry.fixed not in REGISTRY:
            raise UnknownEntryError(
                f"unknown optimizer entry {entry.fixed!r}; known entries: {', '.join(sorted(REGISTRY))}"
            )


def choose_path(
    requested: str, device: torch.device, task: RegisteredTask, genome_members: int
) -> TrainingPath:
    """The path the genome members take (fixed opaque entries are always sequential)."""
    if requested in ("sequential", "population"):
        return requested  # type: ignore[return-value]
    if genome_members == 0 or not task.population_ok:
        return "sequential"
    return "population" if device.type == "cuda" or task.population_on_cpu else "sequential"


def _member_result(entry_key: str, seed: int, outcome: MemberOutcome) -> MemberResult:
    mean_last = mean_last_losses(outcome.losses) if outcome.status == "ok" else None
    if outcome.status == "ok" and outcome.accuracy is not None:
        fitness = seed_fitness(outcome.accuracy, mean_last)
    else:
        fitness = DIVERGED_FITNESS
    curve, curve_steps = loss_curve(outcome.losses)
    return MemberResult(
        entry_key=entry_key, seed=seed, status=outcome.status, fitness=fitness, accuracy=outcome.accuracy,
        final_loss=outcome.final_loss, mean_last_losses=mean_last, steps_done=outcome.steps_done,
        wall_time_s=outcome.wall_time_s, error=outcome.error, extra=outcome.extra,
        loss_curve=curve or None, loss_curve_steps=curve_steps or None, escape_steps=outcome.escape_steps,
    )  # fmt: skip


def evaluate(request: EvalRequest) -> EvalResult:
    """Train every (entry, seed) of ``request`` on its task and score it.

    Returns:
        One :class:`MemberResult` per (entry, seed), entries in request order, seeds inner.
    Raises:
        UnknownTaskError, UnknownEntryError, MissingDataError, DeviceUnavailableError
        (all :class:`~workers.errors.WorkerError`): the request cannot run. A member that
        fails to train is a result with status ``"failed"``, never an exception.
    """
    started = time.perf_counter()
    task = registered_task(request.custom_task) if request.custom_task is not None else get_task(request.task)
    validate_entries(request.entries)
    device = resolve_device(request.device)
    runtime = task.runtime(request.data_dir, request.selection_split, device)

    members = [(entry, seed) for entry in request.entries for seed in request.seeds]
    genome_slots = [i for i, (entry, _) in enumerate(members) if _entry_genome(entry) is not None]
    path = choose_path(request.path, device, task, len(genome_slots))
    outcomes: dict[int, MemberOutcome] = {}
    if path == "population" and genome_slots:
        try:
            trained = train_population(
                runtime,
                [_entry_genome(members[i][0]) for i in genome_slots],
                [members[i][1] for i in genome_slots],
                request.steps,
            )
            outcomes.update(zip(genome_slots, trained, strict=True))
        except Exception as exc:  # retried member by member below; a member's own failure then shows
            # once per task and process at WARNING (a model the population path cannot run
            # fails every time), later ones at DEBUG
            level = logging.DEBUG if request.task in _FELL_BACK else logging.WARNING
            _FELL_BACK.add(request.task)
            logger.log(level, "population run of %s (task %s) failed (%s); training its members sequentially",
                       request.request_id, request.task, one_line(exc, 500, typed=True))  # fmt: skip
            outcomes.clear()
            path = "sequential"
    for i, (entry, seed) in enumerate(members):
        if i not in outcomes:
            outcomes[i] = train_sequential(
                runtime, _optimizer_factory(entry, request.steps), seed, request.steps
            )

    return EvalResult(
        request_id=request.request_id,
        task=request.task,
        budget_key=request.budget_key,
        members=[_member_result(entry.key, seed, outcomes[i]) for i, (entry, seed) in enumerate(members)],
        worker=worker_id(),
        device=describe_device(device),
        path=path if genome_slots else "sequential",
        wall_time_s=time.perf_counter() - started,
    )
