"""The calibrated file: the rule re-exported with the picked rate as its default, the sweep in
its header (the provenance's fitness table: one row per rate, the pick marked)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from evo.calibrate.sweep import Sweep, SweepPoint, sweep_lr, worker_scorer
from evo.report.optimizer_file import write_optimizer_file
from optimizers.export import FitnessRow, Provenance
from optimizers.genome import Genome


def sweep_provenance(sweep: Sweep, origin: str) -> Provenance:
    """The header's record of the sweep: where the rule came from, the task, steps, seeds,
    split, and each rate's mean validation fitness."""
    pick = sweep.pick
    verdict = "the default stays" if pick.decade == 0.0 else f"the default was {sweep.default_lr:.3g}"
    rows = []
    for point in sweep.points:
        mark = " <- pick" if point is pick else (" (default)" if point.decade == 0.0 else "")
        diverged = f", {point.diverged} diverged" if point.diverged else ""
        name = f"lr {point.lr:.3g} (x10^{point.decade:+g}){diverged}{mark}"
        rows.append(FitnessRow(name=name, fitness=point.fitness, per_task={sweep.task: point.fitness}))
    return Provenance(
        source=f"evo calibrate of {origin}: lr sweep picked {pick.lr:.3g} on {sweep.task}'s "
        f"validation split ({verdict})",
        tasks=[sweep.task],
        seeds=list(sweep.seeds),
        budget=f"{sweep.steps} steps per rate and seed",
        fitness=rows,
    )


def write_calibrated(
    genome: Genome, sweep: Sweep, output: Path, class_name: str, total_steps: int, origin: str
) -> tuple[Path, Genome]:
    """Write ``genome`` at the sweep's pick to ``output``; returns the path and that genome."""
    picked = sweep.genome(genome)
    provenance = sweep_provenance(sweep, origin)
    path = write_optimizer_file(
        picked, output, class_name=class_name, total_steps=total_steps, provenance=provenance
    )
    return path, picked


def calibrate_and_write(
    genome: Genome, task: str, steps: int, seeds: Sequence[int], output: Path, class_name: str,
    total_steps: int, origin: str, *, data_dir: str = "./data", device: str = "auto",
    on_point: Callable[[SweepPoint], None] | None = None,
) -> tuple[Path, Genome, Sweep]:  # fmt: skip
    """Sweep ``genome``'s lr on ``task`` (the workers' scorer, validation split) and write the
    pick to ``output``: what ``evo calibrate`` and ``Run.export(calibrate_on=...)`` do.
    Returns the path, the picked genome and the sweep."""
    score = worker_scorer(task, steps, seeds, data_dir, device)
    sweep = sweep_lr(genome, task, steps, seeds, score, on_point=on_point)
    path, picked = write_calibrated(genome, sweep, output, class_name, total_steps, origin)
    return path, picked, sweep
