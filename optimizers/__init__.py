"""Genome optimizers and fixed comparison optimizers; a plain PyTorch library.

Imports nothing of the other evo packages. The names below load on first use (PEP 562), so
that ``from optimizers.errors import EvoError`` or ``optimizers.genome`` (pydantic only) do
not import torch: the read commands (``evo best``, ``evo runs``) start without it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optimizers.baselines import BASELINE_GENOMES, EVO_SEED_BEST
    from optimizers.errors import EvoError
    from optimizers.genome import Genome, Term
    from optimizers.genome_optimizer import GenomeOptimizer, as_genome
    from optimizers.opaque.alme import ALME
    from optimizers.opaque.azure import Azure
    from optimizers.opaque.lion import Lion
    from optimizers.registry import REGISTRY, FixedEntry, get_entry

_HOMES = {
    "ALME": "alme",
    "Azure": "azure",
    "BASELINE_GENOMES": "baselines",
    "EVO_SEED_BEST": "baselines",
    "EvoError": "errors",
    "Genome": "genome",
    "Term": "genome",
    "GenomeOptimizer": "genome_optimizer",
    "as_genome": "genome_optimizer",
    "Lion": "lion",
    "REGISTRY": "registry",
    "FixedEntry": "registry",
    "get_entry": "registry",
}

__all__ = [
    "ALME",
    "BASELINE_GENOMES",
    "EVO_SEED_BEST",
    "REGISTRY",
    "Azure",
    "EvoError",
    "FixedEntry",
    "Genome",
    "GenomeOptimizer",
    "Lion",
    "Term",
    "as_genome",
    "get_entry",
]


def __getattr__(name: str) -> Any:
    """Import the submodule defining ``name`` when it is first asked for."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'optimizers' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"optimizers.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
