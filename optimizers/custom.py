"""Bring your own optimizer: any ``torch.optim.Optimizer`` named by import path.

A job config lists it among its fixed entries::

    fixed_entries: [adam, {import: "torch.optim:SGD", name: sgd_plain, kwargs: {lr: 0.01}}]

It is scored like the registry's opaque entries (one model at a time through the
sequential loop, ``loss = optimizer.step(closure)``; a class whose constructor takes a
``generator`` gets the member's optimizer RNG stream). Workers rebuild it from the
:class:`CustomOptimizer` spec alone, so the class must be importable where they run.

Cache key: ``name@h`` where ``h`` is the first 8 hex digits of
``sha256(canonical JSON of {"import": path, "kwargs": kwargs})`` (keys sorted, no spaces):
the same class with the same hyperparameters hits the same cached scores in every run,
and changing either gives a new key (the name only labels it).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import re
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

from optimizers.entry import FixedEntry
from optimizers.errors import one_line

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$"
"""Names fit the store's 64-character keys with ``@`` and the 8-digit hash."""
_IMPORT_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_FLOAT_TEXT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")
"""``3e-4``: YAML 1.1 (PyYAML) reads a float without a dot as a string."""


class CustomOptimizer(BaseModel):
    """One user optimizer: where to import it from, its table name, its hyperparameters."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, serialize_by_alias=True)

    import_path: str = Field(
        alias="import", description="'module.path:ClassName', importable on the workers."
    )
    name: str = Field(pattern=NAME_PATTERN, description="Name shown in tables (not a registry name).")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Constructor arguments besides params.")

    @field_validator("import_path")
    @classmethod
    def _module_colon_class(cls, path: str) -> str:
        if not _IMPORT_PATTERN.match(path):
            raise ValueError(f"expected 'module.path:ClassName', e.g. 'torch.optim:SGD', got {path!r}")
        return path

    @field_validator("kwargs", mode="before")
    @classmethod
    def _json_values(cls, kwargs: Any) -> Any:
        if not isinstance(kwargs, dict):
            return kwargs
        kwargs = {k: _float_text(v) for k, v in kwargs.items()}
        try:
            json.dumps(kwargs, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"kwargs must be plain JSON values (numbers, strings, lists, maps): {exc}"
            ) from None
        return kwargs

    @property
    def key(self) -> str:
        """The evaluation-cache key, ``name@<8 hex digits>`` (see the module docstring)."""
        canonical = json.dumps(
            {"import": self.import_path, "kwargs": self.kwargs}, sort_keys=True, separators=(",", ":")
        )
        return f"{self.name}@{hashlib.sha256(canonical.encode()).hexdigest()[:8]}"

    def optimizer_class(self) -> type[torch.optim.Optimizer]:
        """Import the class.

        Raises:
            ValueError: the module or attribute cannot be imported, or it is not a
                ``torch.optim.Optimizer`` subclass (one line).
        """
        module_name, _, attr = self.import_path.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
        except Exception as exc:  # any import-time failure is the user's module's
            raise ValueError(
                f"cannot import module {module_name!r}: {one_line(exc, 200, typed=True)}"
            ) from None
        for part in attr.split("."):
            if not hasattr(obj, part):
                raise ValueError(f"module {module_name!r} has no attribute {attr!r}")
            obj = getattr(obj, part)
        if not (inspect.isclass(obj) and issubclass(obj, torch.optim.Optimizer)):
            raise ValueError(f"{self.import_path} is not a torch.optim.Optimizer subclass")
        return obj

    def entry(self) -> FixedEntry:
        """The opaque :class:`FixedEntry` (imports the class; ValueError as above)."""
        return FixedEntry(
            name=self.key, optimizer_class=self.optimizer_class(), kwargs=dict(self.kwargs),
            summary=f"{self.name}: {self.import_path}({_kwargs_text(self.kwargs)})",
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


def _float_text(value: Any) -> Any:
    if isinstance(value, str) and _FLOAT_TEXT.match(value):
        return float(value)
    if isinstance(value, list):
        return [_float_text(v) for v in value]
    return value


def _kwargs_text(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in sorted(kwargs.items()))
