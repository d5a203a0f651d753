"""Bring your own optimizer: any ``torch.optim.Optimizer`` named by import path.

A job config lists it among its fixed entries::

    fixed_entries: [adam, {import: "torch.optim:SGD", name: sgd_plain, kwargs: {lr: 0.01}}]

It is scored like the registry's opaque entries (one model at a time through the
sequential loop, ``loss = optimizer.step(closure)``; a class whose constructor takes a
``generator`` gets the member's optimizer RNG stream). Workers rebuild it from the
:class:`CustomOptimizer` spec alone, so the class must be importable where they run.

Cache key: ``name@h``, ``h`` a hash of the import path and kwargs
(:mod:`optimizers.import_spec`, shared with users' tasks): the same class with the same
hyperparameters hits the same cached scores in every run.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import torch

from optimizers.entry import FixedEntry
from optimizers.errors import one_line
from optimizers.import_spec import NAME_PATTERN, ImportSpec, kwargs_text

__all__ = ["NAME_PATTERN", "CustomOptimizer"]


class CustomOptimizer(ImportSpec):
    """One user optimizer: where to import it from, its table name, its hyperparameters
    (the fields and the cache key ``name@hash`` are :class:`~optimizers.import_spec.ImportSpec`'s)."""

    SHAPE: ClassVar[str] = "module.path:ClassName"
    EXAMPLE: ClassVar[str] = "torch.optim:SGD"

    def optimizer_class(self) -> type[torch.optim.Optimizer]:
        """Import the class.

        Raises:
            ValueError: the module or attribute cannot be imported, or it is not a
                ``torch.optim.Optimizer`` subclass (one line).
        """
        obj: Any = self.import_target()
        if not (inspect.isclass(obj) and issubclass(obj, torch.optim.Optimizer)):
            raise ValueError(f"{self.import_path} is not a torch.optim.Optimizer subclass")
        return obj

    def entry(self) -> FixedEntry:
        """The opaque :class:`FixedEntry` (imports the class; ValueError as above)."""
        return FixedEntry(
            name=self.key, optimizer_class=self.optimizer_class(), kwargs=dict(self.kwargs),
            summary=f"{self.name}: {self.import_path}({kwargs_text(self.kwargs)})",
        )  # fmt: skip

    def check(self) -> None:
        """Import the class and build it once on a dummy parameter (config-load check).

        The kwargs are first bound against the constructor's signature (unknown or missing
        arguments), then the class is constructed, so its own checks (``lr < 0``...) run.

        Raises:
            ValueError: one line, prefixed by the name and import path.
        """
        try:
            optimizer_class = self.optimizer_class()
            try:
                inspect.signature(optimizer_class).bind([], **self.kwargs)
            except TypeError as exc:
                raise ValueError(f"bad kwargs: {one_line(exc)}") from None
            try:
                optimizer_class([torch.nn.Parameter(torch.zeros(2))], **self.kwargs)
            except Exception as exc:  # the class's own argument checks, whatever they raise
                raise ValueError(f"bad kwargs: {one_line(exc, 300, typed=True)}") from None
        except ValueError as exc:
            raise ValueError(f"{self.name} ({self.import_path}): {exc}") from None
