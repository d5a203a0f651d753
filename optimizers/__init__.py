"""Genome optimizers and fixed comparison optimizers; a plain PyTorch library.

Imports nothing of the other evo packages.
"""

from optimizers.alme import ALME
from optimizers.azure import Azure
from optimizers.baselines import BASELINE_GENOMES, EVO_SEED_BEST
from optimizers.errors import EvoError
from optimizers.genome import Genome, Term
from optimizers.genome_optimizer import GenomeOptimizer, as_genome
from optimizers.lion import Lion
from optimizers.registry import REGISTRY, FixedEntry, get_entry

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
