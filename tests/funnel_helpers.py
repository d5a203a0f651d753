"""Shared by the funnel tests (also imported by their SIGKILLed subprocesses): the combined
config, a GA whose generation 0 holds planted fingerprint duplicates, and the runs SIGKILLed
inside a generation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from evo.execution.inline import InlineExecutor
from evo.search.ga import GAState, GeneticAlgorithm, Individual
from optimizers.genome import Genome, Term
from workers.requests import budget_key

ROOT = Path(__file__).resolve().parents[1]

COMBINED = {
    "seed": 5,
    "tasks": ["qubic_1d_direct", "six_hump_camel_direct", "digits"],
    "evaluation": {
        "steps": 20, "seeds": [0, 1], "genomes_per_request": 4, "device": "cpu",
        "lr_multipliers": [0.5, 1, 2], "lr_aggregate": "mean", "fingerprint": True,
        "funnel": [{"tasks": ["qubic_1d_direct", "digits"], "seeds": [0], "steps": 5, "keep": 0.5}, {}],
    },
    "fitness": {"normalize": "reference", "reference": "adamw"},
    "fixed_lr_grid": [0.5, 1, 2],
    "population": {"size": 9, "elites": 2, "tournament_k": 3, "generations": 3},
    "fixed_entries": ["adam", "adamw", "sgd_momentum"],
    "executor": {"kind": "inline", "max_retries": 0},
}  # fmt: skip
"""Funnel + lr_multipliers [0.5, 1, 2] (mean) + normalize: reference (lr-tuned AdamW) + fingerprint."""

DUPLICATED = {6: 4, 7: 4, 8: 1}
"""Planted at generation 0: slot -> the slot it is a functional copy of (slot 1 is Adam, a fixed
entry). Slot 4 has two copies: its unit of three keys must count once, wherever it ranks."""


def negligible_copy(genome: Genome, nth: int = 0) -> Genome:
    """``genome`` plus its ``nth`` absent term at weight 1e-12: another canonical hash, the same update."""
    extra = [t for t in Term if t not in genome.term_types][nth]
    return genome.model_copy(
        update={"term_types": (*genome.term_types, extra), "alphas": (*genome.alphas, 1e-12)}
    )


class DuplicatingGA(GeneticAlgorithm):
    """The GA, with :data:`DUPLICATED` planted in generation 0 (origin ``init`` kept)."""

    def init(self, seed: int) -> GAState:
        state = super().init(seed)
        population = list(state.population)
        for nth, (slot, source) in enumerate(DUPLICATED.items()):
            copy = negligible_copy(population[source].genome, nth)
            population[slot] = Individual(genome=copy, origin="init")
        return state.model_copy(update={"population": tuple(population)})


class CountingExecutor(InlineExecutor):
    """The inline executor, remembering every (key, task, seed, steps) it was asked to train."""

    def __init__(self) -> None:
        super().__init__(max_retries=0)
        self.trained: list[tuple[str, str, int, int]] = []
        self.generation_of: list[int] = []

    def map_unordered(self, requests):
        requests = list(requests)
        for r in requests:
            members = [(e.key, r.task, s, r.steps) for e in r.entries for s in r.seeds]
            self.trained += members
            self.generation_of += [int(r.request_id.split(":")[0][1:].split("f")[0])] * len(members)
        return super().map_unordered(requests)


KILLED = r"""
import json, os, signal, sys
from evo.config.schema import parse_config
from evo.runner.driver import Driver, create_run, find_run
from evo.runner.events import RunObserver
from evo.execution import make_executor
from storage import Store
from tests.funnel_helpers import DuplicatingGA

url, config, key = sys.argv[1], json.loads(sys.argv[2]), sys.argv[4]
generation, n, ga = int(sys.argv[3]), int(sys.argv[5]), sys.argv[6]

class Killer(RunObserver):
    generation = -1
    rows = 0
    def generation_started(self, g, total, done):
        self.generation = g
    def evaluation_recorded(self, row):
        if self.generation == generation and row.budget_key == key:
            self.rows += 1
            if self.rows == n:
                print("killed", flush=True)
                os.kill(os.getpid(), signal.SIGKILL)

cfg = parse_config(config)
store = Store(url)
run = find_run(store, "f") or create_run(store, cfg, "f")
with make_executor(cfg.executor) as executor:
    driver = Driver(store, run, executor, Killer())
    if ga == "duplicating":
        driver.ga = DuplicatingGA(cfg.population)
    driver.run()
print("NOT KILLED")
"""
"""Runs run "f" of a job (argv: url, config JSON, generation, budget key, n, GA) and SIGKILLs
itself when the n-th row of that budget is recorded in that generation."""


def kill_during(url: str, config: dict, points: list[tuple[int, int, int]], ga: str = "") -> None:
    """Run ``config`` as run "f" at ``url`` once per (generation, steps, n) of ``points``, each
    time SIGKILLed at the n-th stored row of ``steps`` in ``generation`` (``ga="duplicating"``:
    with :class:`DuplicatingGA`); asserts each process really died so."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    for generation, steps, n in points:
        proc = subprocess.run(
            [sys.executable, "-c", KILLED, url, json.dumps(config), str(generation), budget_key(steps),
             str(n), ga],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
        )  # fmt: skip
        assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr[-2000:]
