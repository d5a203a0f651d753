"""Genome optimizers and fixed comparison optimizers; a plain PyTorch library.

Imports nothing of the other evo packages.
"""

from optimizers.baselines import BASELINE_GENOMES, EVO_SEED_BEST
from optimizers.errors import EvoError
from optimizers.genome import Genome, Term
from optimizers.genome_optimizer import GenomeOptimizer, as_genome
from optimizers.registry import REGISTRY, FixedEntry, get_entry

__all__ = [
    "BASELINE_GENOMES",
    "EVO_SEED_BEST",
    "REGISTRY",
    "EvoError",
    "FixedEntry",
    "Genome",
    "GenomeOptimizer",
    "Term",
    "as_genome",
    "get_entry",
]
