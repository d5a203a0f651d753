"""Something of the user's named by import path: ``{import: "module:attr", name, kwargs}``.

The shared shape of a user's optimizer (:class:`optimizers.custom.CustomOptimizer`) and a
user's task (:class:`workers.tasks.user_tasks.CustomTask`): where to import it from, the name
tables show, and plain-JSON keyword arguments.

Cache key: ``name@h`` where ``h`` is the first 8 hex digits of
``sha256(canonical JSON of {"import": path, "kwargs": kwargs})`` (keys sorted, no spaces):
the same object with the same arguments hits the same cached scores in every run, and
changing either gives a new key (the name only labels it).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from optimizers.errors import one_line

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$"
"""Names fit the store's 64-character keys with ``@`` and the 8-digit hash."""
_IMPORT_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_FLOAT_TEXT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")
"""``3e-4``: YAML 1.1 (PyYAML) reads a float without a dot as a string."""


class ImportSpec(BaseModel):
    """A user's object: where to import it from, its table name, its keyword arguments."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, serialize_by_alias=True)
    SHAPE: ClassVar[str] = "module.path:attribute"
    EXAMPLE: ClassVar[str] = "torch.optim:SGD"
    """The shape of an import path and an example, shown in the error for a malformed one."""

    import_path: str = Field(
        alias="import", description="'module.path:attribute', importable on the workers."
    )
    name: str = Field(pattern=NAME_PATTERN, description="Name shown in tables (not a registry name).")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments (plain JSON values).")

    @field_validator("import_path")
    @classmethod
    def _module_colon_attribute(cls, path: str) -> str:
        if not _IMPORT_PATTERN.match(path):
            raise ValueError(f"expected {cls.SHAPE!r}, e.g. {cls.EXAMPLE!r}, got {path!r}")
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

    @property
    def module_name(self) -> str:
        """The module part of the import path (``my_tasks`` of ``my_tasks:make_task``)."""
        return self.import_path.partition(":")[0]

    def import_target(self) -> Any:
        """Import the module and walk the attribute path.

        Raises:
            ValueError: the module cannot be imported (whatever it raised, in one line) or
                has no such attribute.
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
        return obj


def _float_text(value: Any) -> Any:
    if isinstance(value, str) and _FLOAT_TEXT.match(value):
        return float(value)
    if isinstance(value, list):
        return [_float_text(v) for v in value]
    return value


def kwargs_text(kwargs: dict[str, Any]) -> str:
    """``a=1, b='x'`` (sorted by name)."""
    return ", ".join(f"{k}={v!r}" for k, v in sorted(kwargs.items()))
