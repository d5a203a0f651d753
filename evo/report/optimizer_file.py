"""The exported optimizer as the user's file: :mod:`optimizers.export`'s text at a path.

The optimizer library renders the standalone module's source
(:func:`optimizers.export.render_optimizer_source`); writing it where the user asked, with
one-line errors for paths that cannot be written, is evo's (:mod:`evo.output_paths`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from evo.output_paths import write_text_file
from optimizers.export import render_optimizer_source

if TYPE_CHECKING:
    from optimizers.export import Provenance
    from optimizers.genome import Genome


def write_optimizer_file(
    genome: Genome,
    path: str | Path,
    class_name: str = "EvolvedOptimizer",
    total_steps: int = 1000,
    provenance: Provenance | None = None,
) -> Path:
    """Write the standalone optimizer module of ``genome`` to ``path`` (parent folders created).

    Its docstring names the module after the file (``path``'s stem). A source that does not
    parse is never written.

    Raises:
        ValueError: ``class_name`` is not a usable class name, or the genome is invalid.
        OutputError: ``path`` cannot be written (a folder, under a file, no permission).
    """
    path = Path(path)
    source = render_optimizer_source(
        genome, class_name, total_steps, module_name=path.stem, provenance=provenance
    )
    compile(source, str(path), "exec")
    return write_text_file(path, source)
