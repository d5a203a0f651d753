"""Child-process bodies of the storage crash and concurrency tests (and their content).

:func:`crash_writer` and :func:`concurrent_writer` are importable by name, so that any
process start method can run them. Every write they report is reported only after its
commit, by one ``os.write`` of one short line to an append-only file (complete or absent
after SIGKILL).

The crash writer's content is a pure function of (generation, slot) and of the evaluation
key, so a checker can verify every stored row without trusting the writer's reports.
"""

from __future__ import annotations

import hashlib
import math
import os
from functools import cache
from typing import Any

from evo.search.aggregation import genome_fitness, population_stats
from optimizers.genome import Genome, Term
from storage.errors import UnknownRunError
from storage.records import EvaluationIn, IndividualIn, RunScope
from storage.store import Store

CRASH_RUN = "crash"
CRASH_SCOPE = RunScope(tasks=["t0", "t1", "t2"], seeds=[0, 1], budget_key="steps=5;split=val;v1")
CRASH_POPULATION = 6


# -- deterministic content ---------------------------------------------------------------
def _unit(*parts: object) -> float:
    """A float in [0, 1) determined by ``parts``."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:6], "big") / 2**48


@cache
def crash_genome(generation: int, slot: int) -> Genome:
    """The genome at (generation, slot); slot 0 of every generation > 0 is generation 0's elite."""
    if slot == 0:
        generation = 0
    u = _unit("genome", generation, slot)
    return Genome(
        term_types=(Term.ADAM_TERM, Term.SIGN_GRAD),
        alphas=(1.0 + round(u, 6), 0.5),
        lr_log10=-3.0 - round(_unit("lr", generation, slot), 6),
    )


@cache
def crash_population(generation: int) -> tuple[IndividualIn, ...]:
    rows = []
    for slot in range(CRASH_POPULATION):
        genome = crash_genome(generation, slot)
        if generation == 0:
            origin, parents = "init", []
        elif slot == 0:
            origin, parents = "elite", []
        else:
            origin = "mutation"
            parents = [crash_genome(generation - 1, slot).hash]
        rows.append(
            IndividualIn(slot=slot, entry_key=genome.hash, genome=genome, origin=origin, parents=parents)
        )
    return rows


@cache
def crash_evaluation(entry_key: str, task: str, seed: int) -> EvaluationIn:
    """The evaluation every writer records for this key (a few are 'diverged')."""
    u = _unit("fitness", entry_key, task, seed)
    diverged = u < 0.1
    return EvaluationIn(
        entry_key=entry_key,
        task=task,
        seed=seed,
        budget_key=CRASH_SCOPE.budget_key,
        metrics={
            "accuracy": None if diverged else u,
            "final_loss": math.inf if diverged else 1.0 - u,
            "steps": 5,
        },
        fitness=-1.0 if diverged else u,
        status="diverged" if diverged else "ok",
        error="loss became inf" if diverged else None,
        worker=f"writer-{entry_key[:4]}",
        device="cpu",
        wall_time_s=round(u * 3, 6),
    )


@cache
def crash_stats(generation: int) -> tuple[float, float, float]:
    """(best, mean, std) of the generation's genome fitness (:mod:`evo.search.aggregation`)."""
    keys = [ind.entry_key for ind in crash_population(generation)]
    rows = [crash_evaluation(k, t, s) for k in keys for t in CRASH_SCOPE.tasks for s in CRASH_SCOPE.seeds]
    fitness = genome_fitness(rows, keys, CRASH_SCOPE.tasks, CRASH_SCOPE.seeds)
    stats = population_stats([fitness[k] for k in keys])
    return stats.best, stats.mean, stats.std


def crash_ga_state(generation: int) -> dict[str, Any]:
    return {"generation": generation + 1, "state": 2**100 + generation, "inc": [generation, -generation]}


# -- child processes ---------------------------------------------------------------------
class _Reporter:
    """One ``os.write`` per line to an append-only file: after SIGKILL a line is whole or absent."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def __call__(self, *parts: object) -> None:
        os.write(self._fd, (" ".join(map(str, parts)) + "\n").encode())


def crash_writer(url: str, report_path: str, max_generations: int = 100_000) -> None:
    """Run a fake GA on the store until killed: save, evaluate, close, next generation.

    Resumes from the store like the driver does. Evaluations alternate between single
    ``record_evaluation`` calls and transactions of three ``record_evaluations``.
    """
    report = _Reporter(report_path)
    store = Store(url)
    try:
        run = store.get_run(CRASH_RUN)
    except UnknownRunError:
        run = store.create_run(CRASH_RUN, {"population": CRASH_POPULATION}, 7, CRASH_SCOPE)
    report("R", run.id)
    last = store.last_complete_generation(run.id)
    generation = 0 if last is None else last.index + 1
    while generation < max_generations:
        store.save_generation(run.id, generation, crash_population(generation))
        report("S", generation)
        missing = store.missing_evaluations(run.id, generation)
        for start in range(0, len(missing), 4):
            batch = missing[start : start + 4]
            if len(batch) == 4:
                store.record_evaluation(crash_evaluation(*batch[0]))
                report("E", *batch[0])
                batch = batch[1:]
            store.record_evaluations([crash_evaluation(*key) for key in batch])
            for key in batch:
                report("E", *key)
        store.close_generation(
            run.id, generation, *crash_stats(generation), ga_state=crash_ga_state(generation)
        )
        report("G", generation)
        generation += 1
    store.close()


def concurrent_writer(url: str, report_path: str, run_name: str, start_at: float) -> None:
    """One of several processes writing at once: its own run, and evaluations shared with the others.

    Waits until ``time.time() >= start_at`` so that all writers start together, then writes
    generations 0..2 of :func:`crash_population` (whose keys every writer shares) and reports
    ``N <inserted>`` per ``record_evaluation`` that returned True.
    """
    import time

    report = _Reporter(report_path)
    store = Store(url)
    run = store.create_run(run_name, {"writer": run_name}, 1, CRASH_SCOPE)
    time.sleep(max(0.0, start_at - time.time()))
    for generation in range(3):
        store.save_generation(run.id, generation, crash_population(generation))
        for ind in crash_population(generation):
            for task in CRASH_SCOPE.tasks:
                for seed in CRASH_SCOPE.seeds:
                    if store.record_evaluation(crash_evaluation(ind.entry_key, task, seed)):
                        report("N", ind.entry_key, task, seed)
        store.close_generation(
            run.id, generation, *crash_stats(generation), ga_state=crash_ga_state(generation)
        )
    report("done", run.id)
    store.close()
