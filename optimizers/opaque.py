"""Opaque fixed entries (not genomes): ALME, Azure Sky, Lion and torch.optim classes."""

from __future__ import annotations

from optimizers.entry import FixedEntry

OPAQUE_ENTRIES: tuple[FixedEntry, ...] = ()
