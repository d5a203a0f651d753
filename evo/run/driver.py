"""The run loop: GA generations, evaluations through an executor, everything in the store.

Per generation g (the design's "data's way through")::

    store.save_generation(run, g, population)        # before any evaluation: resumable
    missing = store.missing_evaluations(run, g)      # (+ the fixed entries at g = 0)
    for outcome in executor.map_unordered(requests(missing)):
        store.record_evaluations(rows)               # one transaction per work item
    fitness = evo.search.aggregation.genome_fitness(...)        # read back from the store
    state = ga.tell(state, fitness)
    store.close_generation(run, g, stats, ga_state=state as JSON, timing=clock)

``timing`` is the generation's wall-time breakdown (:mod:`evo.run.timing`).

Resume: the state stored with the last closed generation is the GA state *after* its
``tell`` (population of the next generation, best so far, RNG), so a resumed run rebuilds
exactly what the uninterrupted run held at that point (from the seed when no generation was
closed) and continues from the first missing evaluation; evaluations already stored are
cache hits. Fitness is read back from the store, never from memory, so both runs feed
``tell`` the same numbers and end with the same final population and fitness, provided an
evaluation is a pure function of (genome, task, seed, budget), which the workers guarantee
and the tests check.

Entries are evaluated in their canonical form (:meth:`Genome.canonical`): the cache keys
on the canonical hash, so the stored score of a hash must not depend on which of several
equivalent raw genomes happened to be trained first. (The seed evaluates raw genomes; the
update is the same, only float summation order may differ.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from evo.config.schema import JobConfig, parse_config
from evo.config.task_items import custom_tasks
from evo.errors import RunConflictError
from evo.evidence.ranking import best
from evo.run.evaluation_rows import outcome_rows
from evo.run.events import RunObserver
from evo.run.holdout_work import holdout_config, holdout_keys, missing_holdout
from evo.run.lease import RunLease
from evo.run.timing import GenerationClock, executor_width
from evo.run.work_costs import TaskCosts, longest_first
from evo.run.work_plan import plan_requests
from evo.search.aggregation import PopulationStats, population_stats
from evo.search.dedup import FingerprintIndex, copy_rows
from evo.search.funnel import climb, run_rung, rungs, still_missing
from evo.search.ga import GAState, GeneticAlgorithm, Individual
from evo.search.lr_recentre import recentred_parents
from evo.search.lr_variants import genome_variant_specs, grid_rows
from evo.search.selection import extra_specs, missing_extra
from evo.search.selection import population_fitness as search_fitness
from optimizers.custom import CustomOptimizer
from optimizers.genome import Genome
from optimizers.registry import REGISTRY
from storage.errors import UnknownRunError
from storage.records import FIXED_GENERATION, IndividualIn, RunRecord, RunScope
from workers.requests import EntrySpec

if TYPE_CHECKING:
    from evo.execution.protocol import Executor
    from storage import Store

MAX_PASSES = 2
"""Times a generation's missing evaluations are submitted before the loss is reported."""
SEMANTIC_SECTIONS = (
    "seed", "tasks", "evaluation", "population", "fixed_entries", "holdout_tasks", "holdout", "fixed_lr_grid",
    "fitness",
)
"""Config parts that change results; a run may only be resumed with these unchanged."""
DEFAULT_SECTIONS = {"holdout_tasks": [], "holdout": {"top_k": 3}}
"""Sections a config stored before they existed lacks: read as these (their defaults)."""
NON_SEMANTIC_EVALUATION_FIELDS = ("device", "genomes_per_request")


class LostEvaluationsError(RuntimeError):
    """The executor returned fewer results than requested, twice (an executor bug)."""


# -- entries ---------------------------------------------------------------------------
def genome_spec(individual: Individual) -> EntrySpec:
    """The work-item entry of a population member (canonical genome, canonical hash)."""
    return EntrySpec(key=individual.key, genome=individual.genome.canonical())


def population_individuals(population: Sequence[Individual]) -> list[IndividualIn]:
    """Rows for :meth:`Store.save_generation`, slot = position in the population."""
    return [
        IndividualIn(
            slot=slot, entry_key=ind.key, genome=ind.genome, origin=ind.origin, parents=list(ind.parents)
        )
        for slot, ind in enumerate(population)
    ]


def fixed_entries(
    items: Iterable[str | CustomOptimizer],
) -> tuple[list[IndividualIn], dict[str, EntrySpec]]:
    """Generation -1 rows and work-item specs of the fixed entries (duplicates dropped).

    Genome-kind entries key on their genome hash (sharing the cache with identical evolved
    genomes); opaque ones on their registry name; a user's optimizer on ``name@hash``
    (:mod:`optimizers.custom`), labelled by its name. The names are registry names: the
    job config checks that (``JobConfig.fixed_entries``), here a bad one is a KeyError.
    """
    rows: list[IndividualIn] = []
    specs: dict[str, EntrySpec] = {}
    labels: set[str] = set()
    for item in items:
        if isinstance(item, CustomOptimizer):
            name, genome = item.name, None
            key, spec = item.key, EntrySpec(key=item.key, custom=item)
        else:
            name, genome = item, REGISTRY[item].genome
            if genome is not None:
                key, spec = genome.hash, EntrySpec(key=genome.hash, genome=genome.canonical())
            else:
                key, spec = name, EntrySpec(key=name, fixed=name)
        if name in labels:
            continue
        labels.add(name)
        rows.append(IndividualIn(slot=len(rows), entry_key=key, genome=genome, origin="fixed", label=name))
        specs.setdefault(key, spec)
    return rows, specs


# -- evaluation ------------------------------------------------------------------------
def evaluate(
    store: Store,
    executor: Executor,
    missing: Iterable[tuple[str, str, int]],
    specs: dict[str, EntrySpec],
    cfg: JobConfig,
    *,
    prefix: str,
    observer: RunObserver,
    clock: GenerationClock | None = None,
    costs: TaskCosts | None = None,
) -> int:
    """Run the missing evaluations and store each result's rows (one transaction per work
    item) as it arrives; ``clock`` counts the waiting, training and store time. Requests
    start longest first by ``costs`` (:mod:`evo.run.work_costs`), which learns from each result.

    An outcome the executor gave up on (``error`` set) becomes failed rows carrying the
    error text, fitness -1; the run goes on. Returns the number of rows stored.
    """
    clock = clock or GenerationClock()
    costs = costs if costs is not None else TaskCosts()
    user_tasks = custom_tasks(cfg)
    planned = plan_requests(missing, specs, cfg.evaluation, cfg.data, prefix=prefix, custom_tasks=user_tasks)
    requests = longest_first(planned, costs)
    by_id = {r.request_id: r for r in requests}
    stored = 0
    for outcome in clock.timed_results(executor.map_unordered(requests)):
        request = by_id[outcome.request_id]
        result = outcome.result
        if result is not None:
            costs.observe(result)
        rows = outcome_rows(
            request,
            result.members if result is not None else None,
            outcome.error,
            worker=result.worker if result is not None else "",
            device=result.device if result is not None else "",
        )
        with clock.store():
            store.record_evaluations(rows)
        for row in rows:
            observer.evaluation_recorded(row)
        stored += len(rows)
    return stored


# -- runs ------------------------------------------------------------------------------
def semantic_config(config: dict) -> dict:
    """The parts of a config dump that change results (see :data:`SEMANTIC_SECTIONS`)."""
    picked = {k: config.get(k, DEFAULT_SECTIONS.get(k)) for k in SEMANTIC_SECTIONS}
    evaluation = dict(picked.get("evaluation") or {})
    for field in NON_SEMANTIC_EVALUATION_FIELDS:
        evaluation.pop(field, None)
    picked["evaluation"] = evaluation
    return picked


def find_run(store: Store, name: str, cfg: JobConfig | None = None) -> RunRecord | None:
    """The run called ``name``, or None; with ``cfg``, check it would compute the same.

    Raises:
        RunConflictError: the stored run's seed, tasks, evaluation budget, population or
            fixed entries differ from ``cfg``.
    """
    try:
        run = store.get_run(name)
    except UnknownRunError:
        return None
    if cfg is not None:
        stored = semantic_config(_with_defaults(run.config))
        wanted = semantic_config(cfg.model_dump(mode="json"))
        if stored != wanted:
            changed = sorted(k for k in stored if stored[k] != wanted[k])
            raise RunConflictError(
                f"run {name!r} already exists with a different {', '.join(changed)}; "
                f"choose another --name, or `evo resume {name}` to continue it as stored"
            )
    return run


def _with_defaults(config: dict) -> dict:
    """A stored config dump with the fields added since it was written at their defaults."""
    try:
        return JobConfig.model_validate(config).model_dump(mode="json")
    except ValueError:
        return config


def stored_config(run: RunRecord, values: dict[str, object] | None = None) -> JobConfig:
    """The job config a run was created with, ``values`` (dotted key -> value) set on it.

    Raises:
        ConfigError: it no longer validates.
    """
    return parse_config(run.config, source=f"the stored config of run {run.name!r}", values=values)


def create_run(store: Store, cfg: JobConfig, name: str) -> RunRecord:
    """Register a new run (config, seed and the scope its cache lookups use)."""
    scope = RunScope(
        tasks=list(cfg.tasks), seeds=list(cfg.evaluation.seeds), budget_key=cfg.budget_key,
        holdout_tasks=list(cfg.holdout_tasks),
        holdout_budget_key=cfg.holdout_budget_key if cfg.holdout_tasks else None,
    )  # fmt: skip
    return store.create_run(name, cfg.model_dump(mode="json"), cfg.seed, scope)


class Driver:
    """Runs (or resumes) one stored run to its last generation.

    Args:
        store: the open store holding the run.
        run: the run record.
        executor: where evaluations run (Ray actors or inline).
        observer: progress hooks; see :class:`evo.run.events.RunObserver`.
        cfg: the job config, already validated (the CLI's, which :func:`find_run` checked
            against the stored one); None parses the run's stored config.
    """

    def __init__(
        self,
        store: Store,
        run: RunRecord,
        executor: Executor,
        observer: RunObserver | None = None,
        cfg: JobConfig | None = None,
    ) -> None:
        self.store = store
        self.run_record = run
        self.cfg = cfg if cfg is not None else stored_config(run)
        self.executor = executor
        self.observer = observer or RunObserver()
        self.ga = GeneticAlgorithm(self.cfg.population)
        self.fixed_rows, self.fixed_specs = fixed_entries(self.cfg.fixed_entries)
        self.fixed_base = list(self.fixed_specs)  # at each entry's own lr (held-out without the grid)
        grid, grid_specs = grid_rows(self.cfg.fixed_entries, self.cfg.fixed_lr_grid, len(self.fixed_rows))
        self.fixed_rows += grid
        self.fixed_specs.update({k: s for k, s in grid_specs.items() if k not in self.fixed_specs})
        self._extra: dict[str, EntrySpec] = {}
        self.dedup = FingerprintIndex() if self.cfg.evaluation.fingerprint else None
        self.ladder = rungs(self.cfg)
        self.costs = TaskCosts()  # worker seconds per member, so requests start longest first
        self._last_timed: float | None = None  # when the last generation's breakdown was taken

    @property
    def run_id(self) -> int:
        return self.run_record.id

    def initial_state(self) -> GAState:
        """The GA state after the last closed generation, or generation 0 from the seed."""
        last = self.store.last_complete_generation(self.run_id)
        if last is None:
            return self.ga.init(self.run_record.seed)
        return GAState.model_validate(last.ga_state)

    def run(self) -> GAState:
        """Evaluate every remaining generation; returns the GA state after the last ``tell``.

        The run is marked ``running``, then ``finished``; ``paused`` on Ctrl-C and
        ``failed`` on any other exception (re-raised). Either way it can be resumed. The
        driver holds the run's lease throughout (:mod:`evo.run.lease`): a second live driver
        is refused.
        """
        with RunLease(self.store, self.run_id) as self.lease:
            return self._run()

    def _run(self) -> GAState:
        state = self.initial_state()
        generations = self.ga.params.generations
        self.store.set_status(self.run_id, "running")
        try:
            self.observer.run_started(self.run_record.name, state.generation, generations)
            if state.generation == 0:
                self.store.save_generation(self.run_id, FIXED_GENERATION, self.fixed_rows)
            self._replay_fingerprints(state.generation)
            while state.generation < generations:
                self.lease.check()
                state = self.run_generation(state)
        except KeyboardInterrupt:
            self.store.set_status(self.run_id, "paused")
            raise
        except BaseException:
            self.store.set_status(self.run_id, "failed")
            raise
        self.store.set_status(self.run_id, "finished")
        self.observer.run_finished(self.run_record.name)
        return state

    def run_generation(self, state: GAState) -> GAState:
        """Save, evaluate, score and close ``state.generation``; return the next state."""
        g = state.generation
        clock = GenerationClock(workers=executor_width(self.executor))
        if self._last_timed is not None:  # the time since the last breakdown counts here
            clock.started = self._last_timed
        with clock.ga():
            population = self.ga.ask(state)
        with clock.store():
            self.store.save_generation(self.run_id, g, population_individuals(population))

        specs = {ind.key: genome_spec(ind) for ind in population}
        for key, spec in self.fixed_specs.items():
            specs.setdefault(key, spec)
        self._extra = {k: s for k, s in extra_specs(self.cfg, population).items() if k not in specs}
        specs.update(self._extra)
        self._observe_fingerprints([(ind.key, specs[ind.key].genome) for ind in population])
        members = len(specs if g == 0 else {ind.key for ind in population}) + len(self._extra)
        total = members * self._per_entry()
        with clock.store():
            missing = self._missing(g) if not self.ladder else []  # the funnel evaluates below
        self.observer.generation_started(g, total, total - len(missing))
        for attempt in range(MAX_PASSES):
            if not missing:
                break
            to_run, to_copy = self.dedup.split(missing) if self.dedup is not None else (missing, [])
            evaluate(
                self.store, self.executor, to_run, specs, self.cfg,
                prefix=f"g{g}" if attempt == 0 else f"g{g}r{attempt}", observer=self.observer, clock=clock,
                costs=self.costs,
            )  # fmt: skip
            if self.dedup is not None:
                with clock.store():
                    copy_rows(self.store, self.dedup, to_copy, self.cfg.budget_key)
            with clock.store():
                missing = self._missing(g)
        if missing:
            raise LostEvaluationsError(f"generation {g}: {len(missing)} evaluations never came back")

        if self.ladder:
            fitness, stats = self._climb_funnel(g, population, specs, clock)
        else:
            with clock.store():
                fitness = self.population_fitness(population)
            stats = population_stats(fitness)
        with clock.ga():
            parents = recentred_parents(self.store, self.cfg, population)
            next_state = self.ga.tell(state, fitness, parents)
        self.evaluate_holdout(g, population, fitness, specs, clock)
        state_json = next_state.model_dump(mode="json")
        with clock.store():  # the close itself counts in the next generation's wall time
            self.store.close_generation(
                self.run_id, g, stats.best, stats.mean, stats.std, ga_state=state_json, timing=clock.timing()
            )
        self._last_timed = clock.ended
        self.observer.generation_closed(g, stats, next_state.best_fitness)
        return next_state

    def _climb_funnel(
        self, g: int, population: Sequence[Individual], specs: dict[str, EntrySpec], clock: GenerationClock
    ) -> tuple[list[float], PopulationStats]:
        """Evaluate generation ``g`` through the task funnel (:mod:`evo.search.funnel`): the told fitness
        per slot, and the statistics of the slots that reached the top rung (their real fitness)."""

        def run_missing(cfg: JobConfig, missing: list[tuple[str, str, int]], prefix: str) -> None:
            for attempt in range(MAX_PASSES):
                if not missing:
                    return
                tag = f"g{g}{prefix}" if attempt == 0 else f"g{g}{prefix}r{attempt}"
                evaluate(
                    self.store, self.executor, missing, specs, cfg,
                    prefix=tag, observer=self.observer, clock=clock, costs=self.costs,
                )  # fmt: skip
                with clock.store():
                    missing = still_missing(self.store, cfg, missing)
            if missing:
                raise LostEvaluationsError(f"generation {g}: {len(missing)} evaluations never came back")

        if self.dedup is not None:  # a representative a rung needs may come from an earlier generation
            specs = {**self.dedup.specs(), **specs}
        if g == 0:
            fixed = self.store.missing_evaluations(self.run_id, FIXED_GENERATION)
            run_rung(self.store, self.cfg, list(fixed), run_missing, "fixed", self.dedup)
        result = climb(
            self.store, population, self.ladder, run_missing, fixed=set(self.fixed_specs), dedup=self.dedup
        )
        fitness = [result.told[ind.key] for ind in population]
        top = self.ladder[-1].index
        full = [result.scores[i.key] for i in population if result.levels[i.key] == top]
        return fitness, population_stats(full)

    def population_fitness(self, population: Sequence[Individual]) -> list[float]:
        """Fitness per slot, read back from the store (cached results count)."""
        return search_fitness(self.store, self.cfg, population)

    def evaluate_holdout(
        self,
        g: int,
        population: Sequence[Individual],
        fitness: Sequence[float],
        specs: dict[str, EntrySpec],
        clock: GenerationClock | None = None,
    ) -> None:
        """Score the generation's top-k genomes and the fixed entries on the held-out tasks
        (:mod:`evo.run.holdout_work`); the results are stored only, never told to the GA."""
        if not self.cfg.holdout_tasks:
            return
        cfg = holdout_config(self.cfg)
        fixed = self.fixed_specs if self.cfg.holdout.fixed_grid else self.fixed_base
        keys = holdout_keys(population, fitness, self.cfg.holdout.top_k, fixed)
        leader = self._run_leader()
        if leader is not None and leader.key not in keys:
            keys.insert(self.cfg.holdout.top_k, leader.key)
            specs = {**specs, leader.key: leader}
        for attempt in range(MAX_PASSES):
            missing = missing_holdout(self.store, cfg, keys)
            if not missing:
                return
            prefix = f"g{g}h{attempt}"
            evaluate(
                self.store, self.executor, missing, specs, cfg,
                prefix=prefix, observer=RunObserver(), clock=clock, costs=self.costs,
            )  # fmt: skip
        if missing_holdout(self.store, cfg, keys):
            raise LostEvaluationsError(f"generation {g}: held-out evaluations never came back")

    def _run_leader(self) -> EntrySpec | None:
        """The evolved genome ``evo best`` ranks first so far (raw mean fitness over the run),
        which the GA's (possibly normalised) fitness may not have put in this generation's
        top-k: it is scored on the held-out tasks too, so ``evo best --vs`` always has them.
        Read from stored training results only, so a resumed run picks the same one."""
        for entry in best(self.store, self.run_id, top_k=None):
            if not entry.is_fixed and entry.genome is not None:
                return EntrySpec(key=entry.entry_key, genome=entry.genome.canonical())
        return None

    def _observe_fingerprints(self, members: list[tuple[str, Genome | None]]) -> None:
        """Show the fingerprint index a generation's genome entries in the fixed order (evo.search.dedup)."""
        if self.dedup is None:
            return
        self.dedup.observe((k, s.genome) for k, s in self.fixed_specs.items())
        self.dedup.observe(members)
        self.dedup.observe((k, s.genome) for k, s in self._extra.items())

    def _replay_fingerprints(self, upto: int) -> None:
        """Rebuild the fingerprint index of generations ``0..upto-1`` from the store (resume)."""
        if self.dedup is None:
            return
        for g in range(upto):
            records = self.store.individuals(self.run_id, g)
            genomes = {r.entry_key: r.genome for r in records if r.genome is not None}
            self._extra = genome_variant_specs(genomes, self.cfg.evaluation.lr_multipliers)
            self._observe_fingerprints([(r.entry_key, r.genome and r.genome.canonical()) for r in records])
        self._extra = {}

    def _per_entry(self) -> int:
        return len(self.cfg.tasks) * len(self.cfg.evaluation.seeds)

    def _missing(self, generation: int) -> list[tuple[str, str, int]]:
        missing = list(self.store.missing_evaluations(self.run_id, generation))
        if generation == 0:
            missing += self.store.missing_evaluations(self.run_id, FIXED_GENERATION)
        missing += missing_extra(self.store, self.cfg, self._extra)
        return list(dict.fromkeys(tuple(m) for m in missing))
