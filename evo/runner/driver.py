"""The run loop: GA generations, evaluations through an executor, everything in the store.

Per generation g (the design's "data's way through")::

    store.save_generation(run, g, population)        # before any evaluation: resumable
    missing = store.missing_evaluations(run, g)      # (+ the fixed entries at g = 0)
    for outcome in executor.map_unordered(requests(missing)):
        store.record_evaluations(rows)               # one transaction per work item
    fitness = evo.search.aggregation.genome_fitness(...)        # read back from the store
    state = ga.tell(state, fitness)
    store.close_generation(run, g, stats, ga_state=state as JSON, timing=clock)

``timing`` is the generation's wall-time breakdown (:mod:`evo.runner.timing`).

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

from collections.abc import Sequence
from typing import TYPE_CHECKING

from evo.config.schema import JobConfig
from evo.config.stored_view import stored_config
from evo.evidence.ranking import best
from evo.runner.entry_rows import fixed_entries, genome_spec, population_individuals
from evo.runner.evaluation_passes import EvaluationPasses, Missing
from evo.runner.events import RunObserver
from evo.runner.holdout_work import holdout_config, holdout_keys, missing_holdout
from evo.runner.lease import RunLease
from evo.runner.run_records import create_run, find_run
from evo.runner.timing import GenerationClock, executor_width
from evo.runner.work_costs import TaskCosts
from evo.search.aggregation import PopulationStats, population_stats
from evo.search.dedup import FingerprintIndex
from evo.search.funnel import climb, run_rung, rungs, still_missing
from evo.search.ga import GAState, GeneticAlgorithm, Individual
from evo.search.lr_recentre import recentred_parents
from evo.search.lr_variants import genome_variant_specs, grid_rows
from evo.search.selection import extra_specs, missing_extra
from evo.search.selection import population_fitness as search_fitness
from optimizers.genome import Genome
from storage.records import FIXED_GENERATION, RunRecord
from workers.requests import EntrySpec

if TYPE_CHECKING:
    from evo.execution.executor import Executor
    from storage import Store

# the driver and the entry points its callers use with it (run records, fixed entries)
__all__ = ["Driver", "create_run", "find_run", "fixed_entries", "stored_config"]


class Driver:
    """Runs (or resumes) one stored run to its last generation.

    Args:
        store: the open store holding the run.
        run: the run record.
        executor: where evaluations run (Ray actors or inline).
        observer: progress hooks; see :class:`evo.runner.events.RunObserver`.
        cfg: the job config, already validated (the CLI's, which :func:`find_run` checked
            against the stored one); None parses the run's stored config.

    A generation's evaluations run in stages, each through
    :meth:`evo.runner.evaluation_passes.EvaluationPasses.until_stored` (submit, re-check, at
    most ``MAX_PASSES``): ``g{g}`` (the population, fixed entries and lr variants), or with a
    funnel ``g{g}fixed`` and one stage per rung (``g{g}`` + the rung's prefix), then ``g{g}h``
    (the held-out tasks).
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
        driver holds the run's lease throughout (:mod:`evo.runner.lease`): a second live driver
        is refused.
        """
        with RunLease(self.store, self.run_id) as lease:
            return self._run(lease)

    def _run(self, lease: RunLease) -> GAState:
        state = self.initial_state()
        generations = self.ga.params.generations
        self.store.set_status(self.run_id, "running")
        try:
            self.observer.run_started(self.run_record.name, state.generation, generations)
            if state.generation == 0:
                self.store.save_generation(self.run_id, FIXED_GENERATION, self.fixed_rows)
            self._replay_fingerprints(state.generation)
            while state.generation < generations:
                lease.check()
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
        passes = EvaluationPasses(self.store, self.executor, self.costs, clock)
        with clock.ga():
            population = self.ga.ask(state)
        with clock.store():
            self.store.save_generation(self.run_id, g, population_individuals(population))

        specs = {ind.key: genome_spec(ind) for ind in population}
        for key, spec in self.fixed_specs.items():
            specs.setdefault(key, spec)
        extra = {k: s for k, s in extra_specs(self.cfg, population).items() if k not in specs}
        specs.update(extra)
        self._observe_fingerprints([(ind.key, specs[ind.key].genome) for ind in population], extra)
        members = len(specs if g == 0 else {ind.key for ind in population}) + len(extra)
        total = members * self._per_entry()
        with clock.store():
            missing = self._missing(g, extra) if not self.ladder else []  # the funnel evaluates below
        self.observer.generation_started(g, total, total - len(missing))
        passes.until_stored(
            self.cfg, specs, missing, lambda _: self._missing(g, extra),
            stage=f"g{g}", observer=self.observer, dedup=self.dedup,
        )  # fmt: skip

        if self.ladder:
            fitness, stats = self._climb_funnel(g, population, specs, passes)
        else:
            with clock.store():
                fitness = self.population_fitness(population)
            stats = population_stats(fitness)
        with clock.ga():
            parents = recentred_parents(self.store, self.cfg, population)
            next_state = self.ga.tell(state, fitness, parents)
        self.evaluate_holdout(g, population, fitness, specs, passes)
        state_json = next_state.model_dump(mode="json")
        with clock.store():  # the close itself counts in the next generation's wall time
            self.store.close_generation(
                self.run_id, g, stats.best, stats.mean, stats.std, ga_state=state_json, timing=clock.timing()
            )
        self._last_timed = clock.ended
        self.observer.generation_closed(g, stats, next_state.best_fitness)
        return next_state

    def _climb_funnel(
        self, g: int, population: Sequence[Individual], specs: dict[str, EntrySpec], passes: EvaluationPasses
    ) -> tuple[list[float], PopulationStats]:
        """Evaluate generation ``g`` through the task funnel (:mod:`evo.search.funnel`): the told fitness
        per slot, and the statistics of the slots that reached the top rung (their real fitness)."""

        def run_missing(cfg: JobConfig, missing: Missing, prefix: str) -> None:
            passes.until_stored(
                cfg, specs, missing, lambda left: still_missing(self.store, cfg, left),
                stage=f"g{g}{prefix}", observer=self.observer,
            )  # fmt: skip

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
        passes: EvaluationPasses | None = None,
    ) -> None:
        """Score the generation's top-k genomes and the fixed entries on the held-out tasks
        (:mod:`evo.runner.holdout_work`); the results are stored only, never told to the GA."""
        if not self.cfg.holdout_tasks:
            return
        passes = passes or EvaluationPasses(self.store, self.executor, self.costs)
        cfg = holdout_config(self.cfg)
        fixed = self.fixed_specs if self.cfg.holdout.fixed_grid else self.fixed_base
        keys = holdout_keys(population, fitness, self.cfg.holdout.top_k, fixed)
        leader = self._run_leader()
        if leader is not None and leader.key not in keys:
            keys.insert(self.cfg.holdout.top_k, leader.key)
            specs = {**specs, leader.key: leader}
        with passes.clock.store():
            missing = missing_holdout(self.store, cfg, keys)
        passes.until_stored(
            cfg, specs, missing, lambda _: missing_holdout(self.store, cfg, keys),
            stage=f"g{g}h", observer=RunObserver(),
        )  # fmt: skip

    def _run_leader(self) -> EntrySpec | None:
        """The evolved genome ``evo best`` ranks first so far (raw mean fitness over the run),
        which the GA's (possibly normalised) fitness may not have put in this generation's
        top-k: it is scored on the held-out tasks too, so ``evo best --vs`` always has them.
        Read from stored training results only, so a resumed run picks the same one."""
        for entry in best(self.store, self.run_id, top_k=None):
            if not entry.is_fixed and entry.genome is not None:
                return EntrySpec(key=entry.entry_key, genome=entry.genome.canonical())
        return None

    def _observe_fingerprints(
        self, members: list[tuple[str, Genome | None]], extra: dict[str, EntrySpec]
    ) -> None:
        """Show the fingerprint index a generation's genome entries in the fixed order (evo.search.dedup):
        the fixed entries, the population's ``members``, their lr variants ``extra``."""
        if self.dedup is None:
            return
        self.dedup.observe((k, s.genome) for k, s in self.fixed_specs.items())
        self.dedup.observe(members)
        self.dedup.observe((k, s.genome) for k, s in extra.items())

    def _replay_fingerprints(self, upto: int) -> None:
        """Rebuild the fingerprint index of generations ``0..upto-1`` from the store (resume)."""
        if self.dedup is None:
            return
        for g in range(upto):
            records = self.store.individuals(self.run_id, g)
            genomes = {r.entry_key: r.genome for r in records if r.genome is not None}
            extra = genome_variant_specs(genomes, self.cfg.evaluation.lr_multipliers)
            members = [(r.entry_key, r.genome and r.genome.canonical()) for r in records]
            self._observe_fingerprints(members, extra)

    def _per_entry(self) -> int:
        return len(self.cfg.tasks) * len(self.cfg.evaluation.seeds)

    def _missing(self, generation: int, extra: dict[str, EntrySpec]) -> Missing:
        """The generation's missing (entry, task, seed): its population, at generation 0 the
        fixed entries, and the lr variants ``extra``."""
        missing = list(self.store.missing_evaluations(self.run_id, generation))
        if generation == 0:
            missing += self.store.missing_evaluations(self.run_id, FIXED_GENERATION)
        missing += missing_extra(self.store, self.cfg, extra)
        return list(dict.fromkeys(tuple(m) for m in missing))
