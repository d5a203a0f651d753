"""Exporting a run's genome as a standalone ``torch.optim.Optimizer`` file (``Run.export``,
``evo export``): the file with its provenance (which genome and the horizon:
:mod:`evo.evidence.export_choice`).

The same concept as :mod:`optimizers.export` one layer down: that module renders the file's
text from a genome; this one picks the run's genome, its provenance and the path.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from evo.evidence.export_choice import run_steps

if TYPE_CHECKING:
    from optimizers.genome import Genome
    from storage import Store
    from storage.records import RunRecord


def export_genome(
    store: Store,
    run: RunRecord,
    genome: Genome,
    path: str | Path,
    class_name: str | None = None,
    total_steps: int | None = None,
) -> Path:
    """Write ``genome`` of ``run`` (provenance: its generation and parents) to ``path``.

    Raises:
        ValueError: ``class_name`` is not a usable Python class name.
        OutputError: ``path`` cannot be written.
    """
    from evo.evidence.known_rule import class_name_for
    from evo.evidence.provenance import run_provenance
    from evo.report.optimizer_file import write_optimizer_file

    provenance = run_provenance(store, run, genome)
    class_name = class_name or class_name_for(genome)
    steps = total_steps or run_steps(run)
    return write_optimizer_file(genome, path, class_name=class_name, total_steps=steps, provenance=provenance)
