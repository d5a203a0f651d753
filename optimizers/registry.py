"""The fixed comparison entries: a plain dict, name -> :class:`FixedEntry`.

Genome entries are vectorizable (workers may train them as a population); opaque entries
(ALME, Azure Sky, Lion, torch.optim classes) go through the sequential loop only.

One of two registries, the same concept at two layers: the names a job config's
``fixed_entries`` resolve in (here) and its ``tasks`` (:mod:`workers.tasks.registry`).
"""

from __future__ import annotations

from optimizers.baselines import BASELINE_GENOMES, EVO_SEED_BEST, LAMB, MUON
from optimizers.entry import FixedEntry, genome_entry
from optimizers.opaque.entries import OPAQUE_ENTRIES

GENOME_ENTRIES: tuple[FixedEntry, ...] = (
    genome_entry("sgd_momentum", BASELINE_GENOMES["sgd_momentum"], "SGD, EMA momentum 0.9, lr 1e-2, wd 1e-4"),
    genome_entry("adam", BASELINE_GENOMES["adam"], "Adam lr 1e-3, decoupled wd 1e-4 (= torch AdamW)"),
    genome_entry("adamw", BASELINE_GENOMES["adamw"], "AdamW lr 1e-3, decoupled wd 1e-2"),
    genome_entry("rmsprop", BASELINE_GENOMES["rmsprop"], "RMSProp lr 1e-3, alpha 0.99, no bias correction"),
    genome_entry("evo_seed_best", EVO_SEED_BEST, "seed evolved genome: 0.73 sign + 3.64 Adam, warmup+cosine"),
    genome_entry("muon", MUON, "Muon lr 1e-3 (AdamW RMS), momentum 0.95, wd 0.1; Adam on non-matrices"),
    genome_entry("lamb", LAMB, "LAMB lr 1e-3, eps 1e-6, wd 1e-2, trust ratio min(||p||, 10) / ||u||"),
)


REGISTRY: dict[str, FixedEntry] = {e.name: e for e in (*GENOME_ENTRIES, *OPAQUE_ENTRIES)}


def get_entry(name: str) -> FixedEntry:
    """Look up an entry; unknown names raise ``KeyError`` listing the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown optimizer {name!r}; known: {', '.join(sorted(REGISTRY))}") from None
