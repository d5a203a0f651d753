"""Search efficiency on configs/quick.yaml: model-steps saved, and executor wall-time ratios.

Part 1, model-steps at equal final fitness. Both runs use the same GA (seed, operators,
``GeneticAlgorithm`` ask/tell) and the same evaluate function (``workers.evaluate`` through
an ``InlineExecutor``), whose every call is counted:

* ours: the real :class:`evo.runner.driver.Driver` on a temp SQLite store: an entry is trained once
  per (canonical hash, task, seed, budget): elites, duplicates within a generation,
  genomes seen in earlier generations and genome-kind fixed entries (the initial
  population holds the four baselines) are cache hits;
* the seed's way: the same GA loop without cache or dedup: every slot of every generation
  is trained on every task and seed (elites re-trained, duplicates trained twice), and the
  fixed entries once more for the comparison.

A model-step is one optimizer step of one model. The GA only sees fitness values, so when
both runs get the same fitness for the same genome they follow the same trajectory and end
at the same best fitness (the table shows both).

Part 2, executor wall time: the same work (generation 0 of quick.yaml with its fixed
entries) through ``InlineExecutor`` (torch's default threads, and 1 thread) and
``RayExecutor`` with 1 and 2 one-CPU actors (torch 1 thread each); each is timed on a first
pass (workers load data, cold caches) and the fastest of ``--warm-passes`` warm passes, the
executors taking turns pass by pass. Ratios are from this one run; the machine is shared,
so absolute times are not the point.

Part 3 (``--funnel``), the task funnel (:mod:`evo.search.funnel`): the same Driver run with and
without ``evaluation.funnel`` (default rungs :data:`FUNNEL`: 1 seed x the tasks x 50 steps,
keep 34%, then the full evaluation), the funnel run for ``--funnel-generations`` (default
twice as many); model-steps each needs until its best-so-far reaches the plain run's final best,
written to ``benchmarks/results/search_efficiency_funnel.{json,md}``.

Part 3 with ``--combined``: the same comparison with lr-robust, reference-normalised fitness
(:data:`COMBINED`: ``lr_multipliers [0.5, 1, 2]`` aggregated by ``mean``, ``normalize:
reference`` against AdamW tuned over ``fixed_lr_grid [0.5, 1, 2]``, four fixed entries), so
every rung trains each climber at three lrs and scores the tuned reference on its budget.
The normalised fitness divides by the spread of the entries ranked together, which differs
between the runs, so "the same final best" is measured run-independently: per entry that
has its full evaluation, its lr-mean fitness minus tuned AdamW's (mean over tasks and seeds,
:func:`reference_gap`); the target is the plain run's final best of that gap. Results:
``search_efficiency_funnel_combined.{json,md}``.

Usage: ``.venv/bin/python benchmarks/search_efficiency.py [overrides, e.g. population.generations=4]``
``[--funnel [--funnel-rungs JSON] [--combined]]``
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
from repro_common import markdown_table, write_results

from evo.config.schema import JobConfig, load_config
from evo.execution.executor import Executor
from evo.execution.inline import InlineExecutor
from evo.execution.ray_pool import RayExecutor
from evo.execution.ray_session import ensure_ray
from evo.runner.driver import Driver, create_run, fixed_entries
from evo.runner.evaluation_rows import outcome_rows
from evo.runner.events import RunObserver
from evo.runner.work_plan import plan_requests
from evo.search.aggregation import genome_fitness
from evo.search.ga import GAState, GeneticAlgorithm, Individual
from evo.search.selection import population_fitness, reference_values
from storage import Store
from workers import evaluate
from workers.requests import EntrySpec, EvalRequest, EvalResult

CONFIG = "configs/quick.yaml"
FUNNEL = [{"seeds": [0], "steps": 50, "keep": 0.34}, {}]
COMBINED = [
    "evaluation.lr_multipliers=[0.5,1,2]", "evaluation.lr_aggregate=mean", "fitness.normalize=reference",
    "fitness.reference=adamw", "fixed_lr_grid=[0.5,1,2]", "fixed_entries=[sgd_momentum,adam,adamw,rmsprop]",
]  # fmt: skip
"""``--combined``: lr-robust fitness normalised against lr-tuned AdamW (the funnel's hard case)."""
RAY_LOGICAL_CPUS = 3
"""Logical CPUs of the local Ray cluster: the 1-actor and the 2-actor pool exist side by side."""


@dataclass
class StepCounter:
    """Wraps ``workers.evaluate`` and counts what it trains."""

    requests: int = 0
    members: int = 0
    model_steps: int = 0
    evaluate_s: float = 0.0
    per_key: Counter[str] = field(default_factory=Counter)

    def evaluate(self, request: EvalRequest) -> EvalResult:
        self.requests += 1
        self.members += len(request.entries) * len(request.seeds)
        self.model_steps += len(request.entries) * len(request.seeds) * request.steps
        for entry in request.entries:
            self.per_key[entry.key.split("#")[0]] += len(request.seeds)
        began = time.perf_counter()
        try:
            return evaluate(request)
        finally:
            self.evaluate_s += time.perf_counter() - began


class StepsPerGeneration(RunObserver):
    """Cumulative model-steps of ``counter`` each time a generation closes."""

    def __init__(self, counter: StepCounter) -> None:
        self.counter = counter
        self.steps: list[int] = []

    def generation_closed(self, generation: int, stats: Any, best_so_far: float) -> None:
        self.steps.append(self.counter.model_steps)


def reference_gap(store: Store, run_id: int, cfg: JobConfig) -> list[float]:
    """Per generation, the best over its entries with a full evaluation of (lr-aggregated mean
    fitness) - (the tuned reference's mean fitness): :mod:`evo.search.selection` without the spread
    scaling, so it does not depend on which entries were ranked together (NaN: none complete)."""
    plain = cfg.model_copy(update={"fitness": cfg.fitness.model_copy(update={"normalize": "none"})})
    reference = reference_values(store, cfg)
    offset = math.fsum(reference.values()) / len(reference)
    out = []
    for g in store.generations(run_id):
        records = store.individuals(run_id, g.index)
        population = [Individual(genome=r.genome, origin=r.origin) for r in records]
        finite = [f - offset for f in population_fitness(store, plain, population) if math.isfinite(f)]
        out.append(max(finite) if finite else math.nan)
    return out


def run_ours(cfg: JobConfig, folder: str, name: str = "ours") -> dict[str, Any]:
    counter = StepCounter()
    observer = StepsPerGeneration(counter)
    with Store(f"sqlite:///{folder}/{name}.db") as store:
        run = create_run(store, cfg, "efficiency")
        began = time.perf_counter()
        with InlineExecutor(evaluate=counter.evaluate) as executor:
            state = Driver(store, run, executor, observer).run()
        wall = time.perf_counter() - began
        best = [g.best_fitness for g in store.generations(run.id)]
        gap = reference_gap(store, run.id, cfg) if cfg.fitness.normalize == "reference" else None
    return {"model_steps": counter.model_steps, "members": counter.members, "requests": counter.requests,
            "reference_gap_per_generation": gap,
            "final_best_fitness": state.best_fitness, "best_per_generation": best, "wall_s": wall,
            "evaluate_s": counter.evaluate_s, "model_steps_per_generation": observer.steps}


def steps_to_reach(result: dict[str, Any], target: float, measure: str = "best_per_generation") -> int | None:
    """Cumulative model-steps at the first generation whose best-so-far is >= ``target``."""
    best = float("-inf")
    pairs = zip(result[measure], result["model_steps_per_generation"], strict=True)
    for fitness, steps in pairs:
        best = max(best, fitness) if math.isfinite(fitness) else best
        if best >= target:
            return steps
    return None


def train_all(
    executor: Executor, specs: dict[str, EntrySpec], cfg: JobConfig, prefix: str
) -> dict[str, float]:
    """Train every spec on every task and seed (no cache); fitness per spec key."""
    missing = [(key, t, s) for key in specs for t in cfg.tasks for s in cfg.evaluation.seeds]
    requests = plan_requests(missing, specs, cfg.evaluation, cfg.data, prefix=prefix)
    by_id = {r.request_id: r for r in requests}
    rows = []
    for outcome in executor.map_unordered(requests):
        result = outcome.result
        rows += outcome_rows(by_id[outcome.request_id], result.members if result else None, outcome.error)
    return genome_fitness(rows, list(specs), cfg.tasks, cfg.evaluation.seeds)


def run_seed_way(cfg: JobConfig) -> dict[str, Any]:
    """The GA loop as the seed runs it: every slot trained every generation."""
    counter = StepCounter()
    ga = GeneticAlgorithm(cfg.population)
    state: GAState = ga.init(cfg.seed)
    seen: set[str] = set()
    cache_hits = dedup_hits = 0
    began = time.perf_counter()
    with InlineExecutor(evaluate=counter.evaluate) as executor:
        _, fixed = fixed_entries(cfg.fixed_entries)
        train_all(executor, {f"{k}#fixed": s for k, s in fixed.items()}, cfg, "fixed")
        seen.update(fixed)
        best = []
        while state.generation < ga.params.generations:
            population = ga.ask(state)
            specs = {  # one spec per slot: the '#slot' suffix defeats any sharing
                f"{ind.key}#{slot}": EntrySpec(key=f"{ind.key}#{slot}", genome=ind.genome.canonical())
                for slot, ind in enumerate(population)
            }
            in_generation: set[str] = set()
            for ind in population:
                cache_hits += ind.key in seen
                dedup_hits += ind.key not in seen and ind.key in in_generation
                in_generation.add(ind.key)
            seen.update(in_generation)
            fitness = train_all(executor, specs, cfg, f"g{state.generation}")
            values = [fitness[key] for key in specs]
            best.append(max(values))
            state = ga.tell(state, values)
    per_entry = len(cfg.tasks) * len(cfg.evaluation.seeds) * cfg.evaluation.steps
    return {"model_steps": counter.model_steps, "members": counter.members, "requests": counter.requests,
            "final_best_fitness": state.best_fitness, "best_per_generation": best,
            "wall_s": time.perf_counter() - began, "evaluate_s": counter.evaluate_s,
            "slots_seen_before": cache_hits, "slots_duplicated_in_generation": dedup_hits,
            "model_steps_per_entry": per_entry}


def generation_zero_work(cfg: JobConfig) -> list[EvalRequest]:
    """Generation 0 of the config and its fixed entries, as the driver plans it."""
    ga = GeneticAlgorithm(cfg.population)
    population = ga.ask(ga.init(cfg.seed))
    specs = {ind.key: EntrySpec(key=ind.key, genome=ind.genome.canonical()) for ind in population}
    _, fixed = fixed_entries(cfg.fixed_entries)
    specs = {**fixed, **specs}
    missing = [(k, t, s) for k in specs for t in cfg.tasks for s in cfg.evaluation.seeds]
    return plan_requests(missing, specs, cfg.evaluation, cfg.data, prefix="bench")


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run this process's torch on ``threads`` threads inside the block (None: unchanged)."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def time_executors(
    makers: dict[str, tuple[Callable[[], Executor], int | None]], work: list[EvalRequest], warm_passes: int
) -> dict[str, dict[str, Any]]:
    """Startup, a cold pass and ``warm_passes`` warm passes of every executor, interleaved.

    All executors are open at once (Ray gets enough logical CPUs for both pools; idle actors
    use no CPU) and each round runs one pass of each, so load from other processes on a
    shared machine spreads over all of them instead of hitting one. The fastest warm pass
    is the least disturbed.
    """
    ensure_ray(num_cpus=RAY_LOGICAL_CPUS, include_dashboard=False)
    opened: dict[str, tuple[Executor, int | None]] = {}
    timings: dict[str, dict[str, Any]] = {}
    try:
        for name, (make, threads) in makers.items():
            began = time.perf_counter()
            opened[name] = (make(), threads)
            timings[name] = {"startup_s": time.perf_counter() - began, "passes_s": [], "request_s": []}
        for _ in range(1 + warm_passes):
            for name, (executor, threads) in opened.items():
                with torch_threads(threads):
                    t0 = time.perf_counter()
                    outcomes = list(executor.map_unordered(work))
                    timings[name]["passes_s"].append(time.perf_counter() - t0)
                failed = [o.request_id for o in outcomes if o.error]
                if failed:
                    raise SystemExit(f"{name}: evaluations failed: {failed[:3]}")
                timings[name]["request_s"].append([o.result.wall_time_s for o in outcomes if o.result])
    finally:
        for executor, _ in opened.values():
            executor.close()
    for t in timings.values():
        passes = t["passes_s"]
        warm = min(range(1, len(passes)), key=passes.__getitem__)
        t |= {"cold_s": passes[0], "warm_s": passes[warm], "warm_median_s": statistics.median(passes[1:]),
              "warm_work_s": sum(t["request_s"][warm]), "warm_longest_request_s": max(t["request_s"][warm])}
    return timings


def compare_funnel(
    cfg: JobConfig, funnel: list[dict[str, Any]], overrides: list[str], generations: int, tag: str = ""
) -> None:
    """Part 3: the run without the funnel, and with it for ``generations`` generations; the
    model-steps each needs until its best-so-far reaches the plain run's final best."""
    data = cfg.model_dump(mode="json")
    data["evaluation"]["funnel"] = funnel
    data["population"]["generations"] = generations
    funnelled = JobConfig.model_validate(data)
    with tempfile.TemporaryDirectory(prefix="evo_funnel_") as folder:
        plain = run_ours(cfg, folder, "plain")
        steps = run_ours(funnelled, folder, "funnel")
    gap = plain["reference_gap_per_generation"] is not None
    measure = "reference_gap_per_generation" if gap else "best_per_generation"
    final = {
        k: max(f for f in r[measure] if math.isfinite(f)) if gap else r["final_best_fitness"]
        for k, r in (("without", plain), ("with", steps))
    }
    target = final["without"]
    reach = {k: steps_to_reach(r, target, measure) for k, r in (("without", plain), ("with", steps))}
    rows = [
        [name, len(r["best_per_generation"]), r["model_steps"], f"{r['wall_s']:.0f}",
         f"{final[key]:.4f}", reach[key] if reach[key] is not None else "not reached"]
        for name, key, r in (("without funnel", "without", plain), ("with funnel", "with", steps))
    ]
    if reach["with"]:
        rows.append(["ratio without / with", "", "", "", "", f"{reach['without'] / reach['with']:.2f}x"])
    lrs = cfg.evaluation.lr_multipliers
    what = "final best fitness" if measure == "best_per_generation" else "best gap to tuned AdamW"
    table = markdown_table(["run", "generations", "model-steps", "wall s", what,
                            f"model-steps to best >= {target:.4f}"], rows)
    text = (
        f"### Task funnel ({CONFIG} {' '.join(overrides)}, inline executor)\n\n"
        f"Population {cfg.population.size} (+ {len(cfg.fixed_entries)} fixed entries), full evaluation "
        f"{len(cfg.tasks)} tasks x {len(cfg.evaluation.seeds)} seeds x {cfg.evaluation.steps} steps"
        f"{f' x {len(lrs)} lrs {lrs}' if len(lrs) > 1 else ''}; "
        f"funnel `{json.dumps(funnel)}`.\n\n{table}\n\n"
        f"{what[0].upper() + what[1:]} per generation (full evaluation), without: "
        f"{[round(b, 4) for b in plain[measure]]}; with: "
        f"{[round(b, 4) for b in steps[measure]]}. Cumulative model-steps per generation, "
        f"without: {plain['model_steps_per_generation']}; with: {steps['model_steps_per_generation']}.\n"
    )
    print(text)
    payload = {"config": CONFIG, "overrides": overrides, "funnel": funnel, "without": plain, "with": steps,
               "target": target, "model_steps_to_target": reach}
    write_results(f"search_efficiency_funnel{tag}", payload, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="config overrides key.sub=value")
    parser.add_argument("--skip-steps", action="store_true", help="only time the executors")
    parser.add_argument("--skip-executors", action="store_true", help="only count model-steps")
    parser.add_argument("--warm-passes", type=int, default=3, help="warm passes per executor (min taken)")
    parser.add_argument("--funnel", action="store_true", help="only compare runs with and without the funnel")
    parser.add_argument("--funnel-rungs", default=json.dumps(FUNNEL), help="evaluation.funnel as JSON")
    parser.add_argument("--funnel-generations", type=int, help="generations of the funnel run (default: 2x)")
    parser.add_argument("--funnel-tag", default="", help="suffix of the funnel results' file names")
    parser.add_argument("--combined", action="store_true", help="with --funnel: COMBINED settings")
    args = parser.parse_args()
    if args.combined:
        args.overrides = [*COMBINED, *args.overrides]
        args.funnel_tag = args.funnel_tag or "_combined"
    cfg = load_config(CONFIG, [*args.overrides, "executor.kind=inline", "evaluation.device=cpu"])
    if args.funnel:
        generations = args.funnel_generations or 2 * cfg.population.generations
        compare_funnel(cfg, json.loads(args.funnel_rungs), args.overrides, generations, args.funnel_tag)
        return
    payload: dict[str, Any] = {"config": CONFIG, "overrides": args.overrides}
    text = f"### Search efficiency ({CONFIG} {' '.join(args.overrides)})\n\n"

    if not args.skip_steps:
        with tempfile.TemporaryDirectory(prefix="evo_eff_") as folder:
            ours = run_ours(cfg, folder)
        seed = run_seed_way(cfg)
        payload |= {"ours": ours, "seed_way": seed}
        rows = [
            ["ours (cache + canonical dedup)", ours["model_steps"], ours["members"], ours["requests"],
             f"{ours['evaluate_s']:.0f}", f"{ours['wall_s']:.0f}", ours["final_best_fitness"]],
            ["seed's way (no cache, no dedup)", seed["model_steps"], seed["members"], seed["requests"],
             f"{seed['evaluate_s']:.0f}", f"{seed['wall_s']:.0f}", seed["final_best_fitness"]],
            ["ratio seed / ours", f"{seed['model_steps'] / ours['model_steps']:.2f}x",
             f"{seed['members'] / ours['members']:.2f}x", "",
             f"{seed['evaluate_s'] / ours['evaluate_s']:.2f}x",
             f"{seed['wall_s'] / ours['wall_s']:.2f}x", ""],
        ]
        table = markdown_table(["strategy", "model-steps", "models trained", "requests", "training s",
                                "wall s", "final best fitness"], rows)
        text += (
            f"Model-steps for {cfg.population.generations} generations of {cfg.population.size} "
            f"(+ {len(cfg.fixed_entries)} fixed entries), {len(cfg.tasks)} tasks x "
            f"{len(cfg.evaluation.seeds)} seeds x {cfg.evaluation.steps} steps:\n\n{table}\n\n"
            f"Of the seed's {cfg.population.generations * cfg.population.size} slot evaluations, "
            f"{seed['slots_seen_before']} were genomes already evaluated (elites, earlier generations, "
            f"fixed entries) and {seed['slots_duplicated_in_generation']} duplicates within a generation. "
            f"Best fitness per generation, ours: {[round(b, 4) for b in ours['best_per_generation']]}; "
            f"seed's way: {[round(b, 4) for b in seed['best_per_generation']]}.\n\n"
        )
        print(text, flush=True)

    if not args.skip_executors:
        work = generation_zero_work(cfg)
        makers: dict[str, tuple[Callable[[], Executor], int | None]] = {
            f"inline ({torch.get_num_threads()} torch threads, the default)": (InlineExecutor, None),
            "inline (1 torch thread)": (InlineExecutor, 1),
            "ray, 1 actor (1 CPU, 1 thread)": (partial(RayExecutor, 1, cpus_per_actor=1.0), None),
            "ray, 2 actors (1 CPU, 1 thread each)": (partial(RayExecutor, 2, cpus_per_actor=1.0), None),
        }
        timings = time_executors(makers, work, args.warm_passes)
        payload["executors"] = {"requests": len(work), "timings": timings}
        base = next(iter(timings.values()))["warm_s"]
        rows = [
            [name, f"{t['startup_s']:.1f}", f"{t['cold_s']:.1f}", f"{t['warm_s']:.1f}",
             f"{t['warm_work_s']:.1f}", f"{t['warm_longest_request_s']:.1f}", f"{base / t['warm_s']:.2f}x"]
            for name, t in timings.items()
        ]
        table = markdown_table(["executor", "startup s", "first pass s", f"best of {args.warm_passes} warm s",
                                "sum of request s", "longest request s", "speed vs inline (warm)"], rows)
        one, two = (t["warm_s"] for name, t in timings.items() if name.startswith("ray"))
        text += (
            f"Executor wall time, generation 0 of {CONFIG} ({len(work)} requests):\n\n{table}\n\n"
            f"2 actors vs 1 actor (warm): {one / two:.2f}x.\n"
        )
        print(text)
    write_results("search_efficiency", payload, text)


if __name__ == "__main__":
    main()
