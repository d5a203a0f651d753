"""The ``fixed_entries`` list of a job config: registry names and users' optimizers.

An item is a registry name (``adam``) or a mapping
``{import: "module:Class", name: ..., kwargs: {...}}`` (:class:`optimizers.custom.CustomOptimizer`).
:func:`check_fixed_entries` is the config-load check: known registry names, no name
given twice (a user's name may not shadow a registry name), and every user class
imported and built once on a dummy parameter, so a bad one fails before anything runs.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Discriminator, Tag

from optimizers.custom import CustomOptimizer

FixedEntryItem = Annotated[
    Annotated[str, Tag("name")] | Annotated[CustomOptimizer, Tag("custom")],
    Discriminator(lambda v: "name" if isinstance(v, str) else "custom"),
]
"""One ``fixed_entries`` item: a registry name or a user's optimizer."""


def item_name(item: str | CustomOptimizer) -> str:
    """The name tables show: the registry name, or the user's ``name``."""
    return item if isinstance(item, str) else item.name


def check_fixed_entries(items: list[Any]) -> list[Any]:
    """Validate the list (see the module docstring); ValueError with one line otherwise."""
    from optimizers.registry import REGISTRY

    for item in items:
        if isinstance(item, CustomOptimizer) and item.name in REGISTRY:
            raise ValueError(f"{item.name!r} is a registry name; give your optimizer another name")
    names = [item_name(i) for i in items]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"listed twice: {', '.join(duplicates)}")
    for item in items:
        if isinstance(item, str) and item not in REGISTRY:
            raise ValueError(f"unknown optimizer {item!r}; known: {', '.join(sorted(REGISTRY))}")
        if isinstance(item, CustomOptimizer):
            item.check()
    return items
