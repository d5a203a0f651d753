"""Which genome of a run an export or a calibration takes, and the run's training steps (the
exported cosine schedule's horizon); shared by ``evo export``, ``Run.export`` and ``evo calibrate``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from evo.errors import UsageError

if TYPE_CHECKING:
    from evo.evidence.search_order import RankBy
    from optimizers.genome import Genome
    from storage import Store
    from storage.records import RunRecord


def ranked_genome(
    store: Store, run: RunRecord, rank: int, by: RankBy = "search", rank_flag: str = "rank"
) -> Genome:
    """The ``rank``-th best evolved (non-fixed) genome of the run, ranked ``by``
    (:func:`evo.evidence.search_order.ranked_genomes`); ``rank_flag`` names the argument in errors.

    Raises:
        UsageError: the run has no evaluated genome yet, or fewer than ``rank``.
    """
    from evo.evidence.search_order import ranked_genomes

    ranked = ranked_genomes(store, run, by)
    if not ranked:
        raise UsageError(no_evolved_genome(run))
    if rank > len(ranked):
        raise UsageError(f"{rank_flag} {rank}: run {run.name!r} has only {len(ranked)} ranked genomes")
    return ranked[rank - 1].genome


def no_evolved_genome(run: RunRecord) -> str:
    """Why a run has no evolved genome to show, and what to do about it."""
    if run.status != "finished":
        return (
            f"run {run.name!r} has no evaluated evolved genome yet; continue it with: evo resume {run.name}"
        )
    from evo.config.stored_view import stored_view

    population = stored_view(run.config, run.name).population
    size, generations = population.size, population.generations
    return (
        f"run {run.name!r} has no evolved genome scored: with population {size} and {generations} "
        "generation(s) only genomes equal to the fixed entries were evaluated. Evolve with more "
        "generations and a larger population (e.g. population.size=12 population.generations=6 on "
        "your config)"
    )


def run_steps(run: RunRecord) -> int:
    """The run's training steps per evaluation: the exported cosine schedule's horizon."""
    from evo.config.stored_view import stored_view

    return stored_view(run.config, run.name).evaluation.steps
