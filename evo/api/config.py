"""``evo.load_config``: a job config from a YAML file, a mapping, or a :class:`JobConfig`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evo.errors import ConfigError

if TYPE_CHECKING:
    from evo.config.schema import JobConfig

def load_config(
    config: str | Path | Mapping[str, Any] | JobConfig,
    overrides: Sequence[str] = (),
    values: Mapping[str, Any] | None = None,
) -> JobConfig:
    """Validate a job config into a :class:`~evo.config.schema.JobConfig`.

    Args:
        config: a YAML file (path), a mapping with the file's keys, or a ``JobConfig``.
        overrides: ``"key.sub=value"`` strings, as on the command line
            (``"population.size=8"``); the value is read as YAML.
        values: dotted key -> value, set after ``overrides`` and taken as given
            (``{"storage.url": url}``).

    Raises:
        ConfigError: one line naming the file (or ``config``) and the field that is wrong.
    """
    from evo.config.schema import JobConfig, parse_config
    from evo.config.schema import load_config as load_file

    if isinstance(config, JobConfig):
        return parse_config(config.model_dump(mode="json"), overrides, values=values)
    if isinstance(config, Mapping):
        return parse_config(config, overrides, values=values)
    if isinstance(config, str | Path):
        return load_file(config, overrides, values)
    raise ConfigError(
        f"config: expected a YAML file path, a mapping or a JobConfig, got {type(config).__name__}"
    )
