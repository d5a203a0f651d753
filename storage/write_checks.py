"""Checks a :class:`storage.Store` write must pass before (or instead of) touching rows; each
raises :class:`~storage.errors.StorageError` with one line saying what is wrong."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from storage.errors import StorageError
from storage.orm import GenerationRow, IndividualRow
from storage.records import FIXED_GENERATION, NAME_LENGTH, IndividualIn


def as_json(value: Any, what: str) -> Any:
    """``value`` as it reads back from JSON; StorageError when it is not JSON data."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise StorageError(f"{what} must be JSON data (numbers, strings, lists, dicts): {exc}") from None


def valid_run_name(name: str) -> str:
    """A stripped run name; names of only digits are refused (they would read as ids)."""
    name = str(name).strip()
    if not name or name.isdigit() or len(name) > NAME_LENGTH:
        raise StorageError(
            f"bad run name {name!r}: use 1..{NAME_LENGTH} characters, not only digits (ids are numbers)"
        )
    return name


def check_population(generation: int, individuals: Sequence[IndividualIn]) -> None:
    """Reject slot clashes and origins that do not fit the generation."""
    if generation < FIXED_GENERATION:
        raise StorageError(f"bad generation {generation}: -1 (fixed entries) or a GA generation >= 0")
    slots = [ind.slot for ind in individuals]
    if len(set(slots)) != len(slots):
        raise StorageError(f"generation {generation}: duplicate slots in {slots}")
    for ind in individuals:
        if (ind.origin == "fixed") != (generation == FIXED_GENERATION):
            raise StorageError(
                f"generation {generation}, slot {ind.slot}: origin {ind.origin!r} does not fit; fixed "
                "entries go to generation -1 and only there"
            )


def same_population(
    run_name: str, generation: int, stored: Sequence[IndividualRow], given: Sequence[IndividualIn]
) -> None:
    """A re-save must match the stored population exactly (slot, key, origin, parents, label)."""
    old = [(r.slot, r.entry_key, r.origin, list(r.parents), r.label) for r in stored]
    new = [(i.slot, i.entry_key, i.origin, list(i.parents), i.label) for i in given]
    if old != new:
        first = next((o, n) for o, n in zip([*old, None], [*new, None], strict=False) if o != n)
        raise StorageError(
            f"run {run_name!r} already has a different generation {generation} "
            f"(stored {first[0]}, given {first[1]}); a saved population cannot change"
        )


def same_close(run_name: str, row: GenerationRow, values: dict[str, float], state: dict[str, Any]) -> None:
    """Closing a closed generation again must repeat its values exactly (NaN equals NaN)."""

    def same(stored: float | None, given: float) -> bool:
        return (stored is None and math.isnan(given)) or stored == given

    if not all(same(getattr(row, k), v) for k, v in values.items()) or row.ga_state != state:
        raise StorageError(
            f"run {run_name!r} generation {row.generation} is already closed with other values; "
            "a closed generation cannot change"
        )
