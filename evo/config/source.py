"""A job config's raw mapping before validation: the YAML file read safely
(:mod:`evo.config.safe_yaml`) and ``key.sub=value`` overrides applied (:func:`apply_overrides`).
Validation into :class:`evo.config.schema.JobConfig` is :func:`evo.config.schema.parse_config`'s."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evo.config import safe_yaml
from evo.errors import ConfigError
from optimizers.errors import one_line

_KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML file; ConfigError if it is missing, unreadable or not a mapping."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} not found (pass a YAML file, e.g. configs/quick.yaml)")
    try:
        data = safe_yaml.load_file(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {one_line(exc)}") from None
    except safe_yaml.YAMLRefused as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys at the top, got {type(data).__name__}")
    return data


def apply_overrides(
    data: Mapping[str, Any], overrides: Sequence[str] = (), values: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A copy of ``data`` with each ``a.b.c=value`` set (value parsed as YAML), then each
    ``values`` item (dotted key -> value, taken as given, e.g. ``{"storage.url": db}``).

    Missing sections are created; a dotted path through a non-mapping is an error.
    Unknown keys are left for validation to reject, so they get the same message as in a file.
    """
    result = _deep_copy(data)
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not all(_KEY_PATTERN.match(p) for p in key.strip().split(".")):
            raise ConfigError(f"override {override!r}: expected key.sub=value, e.g. population.size=32")
        try:
            value = safe_yaml.load(raw) if raw.strip() else None
        except safe_yaml.YAMLRefused as exc:
            shown = one_line(override, 80)
            raise ConfigError(f"override {shown!r}: value is not valid YAML: {exc}") from None
        _set(result, key.strip(), value, f"override {override!r}")
    for key, value in (values or {}).items():
        _set(result, key, value, key)
    return result


def _set(data: dict[str, Any], key: str, value: Any, what: str) -> None:
    """Set dotted ``key`` in ``data`` to ``value``, creating missing sections."""
    parts = key.split(".")
    node = data
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            section = ".".join(parts[: depth + 1])
            raise ConfigError(f"{what}: {section} is a value, not a section")
        node = child
    node[parts[-1]] = value


def _deep_copy(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data
